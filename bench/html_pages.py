"""Do HTML pages read well? (retrieval.html_text.read_html)

Writes an `eval answers` task from a folder of saved HTML pages and questions about
them, once per way of turning a page into text, so the same questions can be asked
of each:

- `nodes`: every text node on its own line, the page's menus included (rankgraph
  before session 18, BeautifulSoup's `get_text("\\n")`);
- `text`: trafilatura's main content as plain text (what `rankgraph index` reads);
- `markdown`: trafilatura's main content as markdown.

Pages that `rankgraph index` leaves out (lists of links such as a table of contents,
redirect stubs) are left out of every variant. Each page is one document (`id` = its path
under the folder); the questions file is JSONL `{"id", "question", "answers",
"page"}` with `page` the path of the page that answers it. Then, per variant:

    .venv/bin/python bench/html_pages.py QA.jsonl --root DOCS --out task
    rankgraph eval answers --corpus task/corpus-text.jsonl \\
        --questions task/questions.jsonl --split all --variant plain --variant default
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
from collections.abc import Callable
from pathlib import Path

import trafilatura
from lxml import etree

from rankgraph.retrieval.html_text import decode_html, read_html

# One extraction per page: the `text` variant and every variant's title share it.
_read = functools.cache(read_html)


def text_nodes(raw: str) -> str:
    """The old reading: each text node of <body> on a line of its own."""
    tree = trafilatura.load_html(raw)
    if tree is None:
        return ""
    etree.strip_elements(tree, "script", "style", "noscript", "template", with_tail=False)
    body = tree.find(".//body")
    root = body if body is not None else tree
    nodes = (t for t in root.itertext() if not isinstance(t, etree._Element))
    lines = (line.strip() for line in "\n".join(nodes).splitlines())
    return "\n".join(line for line in lines if line)


def main_text(raw: str) -> str:
    return _read(raw).text


def main_markdown(raw: str) -> str:
    kwargs = {"favor_recall": True, "include_tables": True}
    return trafilatura.extract(raw, output_format="markdown", **kwargs) or ""


VARIANTS: dict[str, Callable[[str], str]] = {
    "nodes": text_nodes,
    "text": main_text,
    "markdown": main_markdown,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("--root", type=Path, required=True, help="folder of the pages")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    qa = [json.loads(line) for line in args.questions.open() if line.strip()]
    pages = sorted(p for p in args.root.rglob("*.htm*") if p.name != "print.html")
    with (args.out / "questions.jsonl").open("w") as fh:
        for q in qa:
            page = str(Path(q["page"]).resolve().relative_to(args.root.resolve()))
            row = {"qid": q["id"], "question": q["question"], "answers": q["answers"]}
            fh.write(json.dumps({**row, "answer_doc_ids": [page]}) + "\n")
    for name, convert in VARIANTS.items():
        lengths, lines = [], []
        with (args.out / f"corpus-{name}.jsonl").open("w") as fh:
            for page in pages:
                raw = decode_html(page.read_bytes())[0]
                if _read(raw).left_out:
                    continue
                text = convert(raw)
                if not text.strip():
                    continue
                title = _read(raw).title or page.stem
                doc_id = str(page.relative_to(args.root))
                fh.write(json.dumps({"id": doc_id, "title": title, "text": text}) + "\n")
                lengths.append(len(text))
                lines.append(statistics.fmean(len(line) for line in text.splitlines()))
        print(
            f"{name:9} {len(lengths)} pages, {sum(lengths):,} characters, "
            f"{statistics.median(lines):.0f} characters per line (median page)"
        )


if __name__ == "__main__":
    main()
