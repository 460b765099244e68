"""Do PDF pages read well? (retrieval.pdf_text.clean_pages)

Writes `eval answers` corpora from a folder of PDFs, a document per page (`id` =
"FILE.pdf#pN", N counted from 1 in the file), once per way of reading a page:

- `typeset`: pypdf's text with words split at a line end joined, running headers and
  page numbers left in (rankgraph in session 20);
- `text`: what `rankgraph index` reads now (`retrieval.loaders.load`).

The questions in bench/data/pdf-manuals-*.jsonl name their pages that way. Then, per
corpus:

    .venv/bin/python bench/pdf_pages.py --pdfs PDFS --out task
    rankgraph eval answers --corpus task/corpus-text.jsonl \\
        --questions bench/data/pdf-manuals-dev.jsonl --split all \\
        --variant plain --variant default
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from pathlib import Path

from pypdf import PdfReader

from rankgraph.retrieval.loaders import Document, load
from rankgraph.retrieval.pdf_text import join_split_words


def typeset(path: Path) -> Iterator[tuple[int, str, str]]:
    reader = PdfReader(path)
    title = (reader.metadata.title if reader.metadata else None) or path.stem
    for number, page in enumerate(reader.pages, 1):
        yield number, title, join_split_words(page.extract_text() or "")


def text(path: Path) -> Iterator[tuple[int, str, str]]:
    for item in load(path):
        if isinstance(item, Document):
            yield int(item.metadata["page"]), item.title or path.stem, item.text


READINGS: dict[str, Callable[[Path], Iterator[tuple[int, str, str]]]] = {
    "typeset": typeset,
    "text": text,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdfs", type=Path, required=True, help="folder of .pdf files")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pdfs = sorted(args.pdfs.glob("*.pdf"))
    for name, read in READINGS.items():
        count = 0
        with (args.out / f"corpus-{name}.jsonl").open("w", encoding="utf-8") as fh:
            for pdf in pdfs:
                for number, title, page in read(pdf):
                    if page.strip():
                        record = {"id": f"{pdf.name}#p{number}", "title": title, "text": page}
                        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                        count += 1
        print(f"corpus-{name}.jsonl: {count} pages from {len(pdfs)} PDFs")


if __name__ == "__main__":
    main()
