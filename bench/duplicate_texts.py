"""How many of the reader's places do texts stored twice take? (Retriever.search_many)

A docs site's print-all page repeats every chapter, and the same page saved in two
folders is indexed twice. For each question this compares the first `k` of the fused
ranking as it is (before session 18) with what `search` returns now, where a text
already returned is skipped and the next one takes its place: the distinct texts
among the `k`, and the questions with a gold answer in one of them.

Questions are JSONL `{"question", "answers"}`; the collection is built with
`rankgraph index`:

    rankgraph index DOCS --collection docs
    .venv/bin/python bench/duplicate_texts.py QA.jsonl --collection docs --k 5
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from rankgraph.config import load_settings
from rankgraph.eval.qa_scoring import contains_answer
from rankgraph.retrieval import Retriever


def _distinct(texts: list[str]) -> int:
    return len({" ".join(t.split()) for t in texts})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("--collection", required=True)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    settings = load_settings()
    retriever = Retriever.from_settings(settings, args.collection)
    qa = [json.loads(line) for line in args.questions.open() if line.strip()]
    rows: dict[str, list[tuple[int, bool]]] = {"as ranked": [], "distinct": []}
    for q in qa:
        ranked, _ = retriever._rank([q["question"]], args.k, settings.retrieval.mode, None)
        found = retriever.store.passages([i for i, _ in ranked[: args.k]])
        before = [found[i].text for i, _ in ranked[: args.k] if i in found]
        now = [p.text for p in retriever.search(q["question"], k=args.k)]
        for name, texts in (("as ranked", before), ("distinct", now)):
            hit = any(contains_answer(t, q["answers"]) for t in texts)
            rows[name].append((_distinct(texts), hit))
    print(f"{len(qa)} questions, top {args.k}, collection {args.collection!r}")
    for name, got in rows.items():
        texts = statistics.fmean(n for n, _ in got)
        hits = statistics.fmean(h for _, h in got)
        print(f"{name:10} distinct texts {texts:.2f}  answer in a passage {hits:.3f}")


if __name__ == "__main__":
    main()
