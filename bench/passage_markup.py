"""Does web markup inside passages make the reader cite wrongly? (prompts.passages)

Pages copied from the web carry reference marks after their sentences ("big.[12]")
and markdown carries link syntax ("[Paris](https://…)"). Both look like the `[n]`
citations the reader is asked to write. This plants each kind into the passages the
plain chain read for answerable wiki-nq questions and asks the reader with the
shipped `full` prompt, three ways: the clean text; the marked text shown as written
(`strip_markup` off); the marked text as rankgraph shows it. The table gives contains
and F1 (of the raw reply), the share of replies that cite a passage, citations of a
passage that does not exist (and the replies with one), and replies that copy link
syntax.

    NQ=../shared/data/wiki-nq
    RANKGRAPH_LLM__CACHE=read-write rankgraph eval answers --corpus $NQ/corpus.jsonl \\
        --questions $NQ/questions.jsonl --split dev --limit 295 --variant plain --jsonl dev.jsonl
    .venv/bin/python bench/passage_markup.py dev.jsonl --corpus $NQ/corpus.jsonl --limit 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rankgraph.agents.attribution import cited_numbers
from rankgraph.agents.generate import ABSTAIN
from rankgraph.config import load_settings
from rankgraph.engine import ensure_running
from rankgraph.eval.qa_scoring import contains_answer, token_f1
from rankgraph.llm import LLMClient
from rankgraph.pipeline_config import GenerateConfig
from rankgraph.prompts import load_prompt
from rankgraph.prompts import passages as fence
from rankgraph.schema import Passage

_SENTENCE_END = re.compile(r"(?<=[.!?])(?=\s|$)")
_NAME = re.compile(r"(?<![\w\[])[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*")
_LINK_COPIED = re.compile(r"\]\(|https?://")


def footnoted(text: str, key: str) -> str:
    """A reference mark such as "[17]" after every sentence but the last."""
    parts = _SENTENCE_END.split(text)
    last = len(parts) - 1
    return "".join(
        p + (f"[{zlib.crc32(f'{key}{i}'.encode()) % 40 + 1}]" if p.strip() and i < last else "")
        for i, p in enumerate(parts)
    )


def linked(text: str, key: str) -> str:
    """About a third of the capitalised names made into markdown links."""

    def link(m: re.Match[str]) -> str:
        name = m.group(0)
        if zlib.crc32(f"{key}{m.start()}".encode()) % 3:
            return name
        return f"[{name}](https://en.wikipedia.org/wiki/{name.replace(' ', '_')})"

    return _NAME.sub(link, text)


PLANTS: dict[str, Callable[[str, str], str]] = {"footnotes": footnoted, "links": linked}


@contextmanager
def stripping(on: bool) -> Iterator[None]:
    """`on=False` shows passages with their markup, as rankgraph did before session 17."""
    original = fence.strip_markup
    if not on:
        fence.strip_markup = lambda text: text  # type: ignore[assignment]
    try:
        yield
    finally:
        fence.strip_markup = original  # type: ignore[assignment]


def messages(question: str, passages: list[Passage]) -> list[dict[str, str]]:
    idents = [str(n) for n in range(1, len(passages) + 1)]
    block = fence.fenced_list(passages, idents, GenerateConfig().max_passage_words)
    return load_prompt("generate_full").render(
        passages=block, notes="", question=question, abstain=ABSTAIN
    )


async def condition(
    client: LLMClient, rows: list[dict[str, Any]], docs: dict[str, dict[str, str]], plant: str
) -> dict[str, float]:
    gate = asyncio.Semaphore(4)

    async def one(row: dict[str, Any]) -> dict[str, float]:
        passages = []
        for doc_id in row["stages"]["kept"]:
            doc = docs[doc_id]
            text = PLANTS[plant](doc["text"], doc_id) if plant else doc["text"]
            passages.append(Passage(id=doc_id, title=doc["title"], text=text))
        async with gate:
            reply = (await client.complete(messages(row["question"], passages))).text
        cites = cited_numbers(reply)
        return {
            "contains": float(contains_answer(reply, row["gold"])),
            "f1": token_f1(reply, row["gold"]),
            "cited": float(any(1 <= n <= len(passages) for n in cites)),
            "phantom": float(sum(not 1 <= n <= len(passages) for n in cites)),
            "with_phantom": float(any(not 1 <= n <= len(passages) for n in cites)),
            "link_copied": float(bool(_LINK_COPIED.search(reply))),
        }

    results = await asyncio.gather(*(one(r) for r in rows))
    means = {k: statistics.fmean(r[k] for r in results) for k in ("contains", "f1", "cited")}
    sums = {k: sum(r[k] for r in results) for k in ("phantom", "with_phantom", "link_copied")}
    return means | sums


async def run(args: argparse.Namespace) -> None:
    settings = load_settings(engine={"preset": args.preset}, llm={"cache": "read-write"})
    ensure_running(settings)
    docs = {}
    with args.corpus.open(encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            docs[doc["id"]] = doc
    with args.plain.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    rows = [r for r in rows if r["variant"] == "plain" and r["answerable"] and not r["error"]]
    rows = [r for r in rows if r["stages"]["kept"]][: args.limit]
    print(f"{len(rows)} answerable questions, the passages plain read, `full` prompt")
    print("| markup | shown | contains | F1 | cites | phantom cites (answers) | copies a link |")
    print("|---|---|---|---|---|---|---|")
    async with LLMClient.from_settings(settings) as client:
        base = await condition(client, rows, docs, "")
        print(_row("none", "-", base))
        for plant in args.kinds:
            for on in (False, True):
                with stripping(on):
                    got = await condition(client, rows, docs, plant)
                print(_row(plant, "stripped" if on else "as written", got))


def _row(plant: str, shown: str, r: dict[str, float]) -> str:
    return (
        f"| {plant} | {shown} | {r['contains']:.3f} | {r['f1']:.3f} | {r['cited']:.2f} "
        f"| {r['phantom']:.0f} ({r['with_phantom']:.0f}) | {r['link_copied']:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("plain", type=Path, help="an `eval answers --jsonl` file with `plain`")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--kinds", nargs="+", choices=sorted(PLANTS), default=sorted(PLANTS))
    parser.add_argument("--preset", default="qwen2.5-0.5b")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
