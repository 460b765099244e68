"""Chat follow-ups for `rankgraph eval answers`: does the rewrite agent earn its place?

`bench/data/wiki-nq-followups.jsonl` holds 120 follow-up questions over the wiki-nq
corpus, each with the conversation it follows (README beside it). This writes the
three question files the session-19 tables in docs/benchmarks.md were made from:

- `followups.jsonl`: the follow-ups with their conversations, as a chat client
  would send them (`history`);
- `standalone.jsonl`: the same questions as their hand-written standalone
  rewrites, without a conversation: what a perfect rewriter would give (a ceiling);
- `switches.jsonl`: a self-contained question asked after an unrelated
  conversation (record i's conversation, then the standalone question of record
  i + 7 of the same half): what a rewrite must leave alone.

Each file keeps the record order, so `--split dev` (first 60) and `--split test`
(last 60) are the same halves in all three:

    .venv/bin/python bench/chat_followups.py --out followups
    rankgraph eval answers --corpus ../shared/data/wiki-nq/corpus.jsonl \\
      --questions followups/followups.jsonl --split test \\
      --variant plain --config rewrite.toml --variant default --jsonl f.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).parent / "data" / "wiki-nq-followups.jsonl"
SHIFT = 7  # how far along its half a switch takes its question from


def switched(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Record i's conversation, then record j's standalone question (j in i's half)."""
    half = (len(records) + 1) // 2
    out = []
    for i, record in enumerate(records):
        start, size = (0, half) if i < half else (half, len(records) - half)
        other = records[start + (i - start + SHIFT) % size]
        out.append(
            {
                "qid": f"switch-{record['qid']}",
                "question": other["standalone"],
                "answers": other["answers"],
                "answer_doc_ids": other["answer_doc_ids"],
                "history": record["history"],
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    records = [json.loads(line) for line in SOURCE.open(encoding="utf-8") if line.strip()]
    standalone = [
        {k: v for k, v in r.items() if k != "history"} | {"question": r["standalone"]}
        for r in records
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in (
        ("followups", records),
        ("standalone", standalone),
        ("switches", switched(records)),
    ):
        path = args.out / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        print(f"{path}: {len(rows)} questions")


if __name__ == "__main__":
    main()
