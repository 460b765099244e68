"""Would the graph lose anything by skipping rerank when the first stage looks confident?

Scored with no LLM call: when rerank is skipped, the generate prompt is exactly the
plain chain's, so a question's outcome under a rule is its `plain` row when the rule
skips and its `default` row otherwise. Both rows come from one `eval answers --jsonl`
run with `--variant plain --variant default` (replayed from the response cache if
it was run before). The facts a rule may use come from the first stage alone:
dense and BM25 rankings and the fused scores, for the same questions, with the
answer documents removed for the unanswerable copies, as the eval did.

    NQ=../shared/data/wiki-nq
    RANKGRAPH_LLM__CACHE=replay rankgraph eval answers --corpus $NQ/corpus.jsonl \\
        --questions $NQ/questions.jsonl --split dev --limit 150 --unanswerable 40 \\
        --variant plain --variant default --jsonl dev.jsonl
    .venv/bin/python bench/rerank_skip_rules.py --corpus $NQ/corpus.jsonl dev.jsonl test.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rankgraph.config import load_settings
from rankgraph.eval.retrieval import eval_collection_name, file_digest
from rankgraph.retrieval import Retriever

Facts = dict[str, float]
RULES: dict[str, Callable[[Facts], bool]] = {
    "never (the default)": lambda f: False,
    "always (= plain)": lambda f: True,
    "dense and BM25 agree on the top document": lambda f: f["agree_top1"] == 1,
    ">= 3 of their top 5 agree": lambda f: f["agree_top5"] >= 3,
    ">= 4 of their top 5 agree": lambda f: f["agree_top5"] >= 4,
    "BM25 top score >= 1.3 x the second": lambda f: f["bm25_ratio"] >= 1.3,
    "RRF gap between ranks 1 and 2 > 0.005": lambda f: f["rrf_gap12"] > 0.005,
}


def facts(retriever: Retriever, question: str, excluded: set[str]) -> Facts:
    def ranked(mode: Any) -> list[tuple[str, float]]:
        found = retriever.search(question, k=60, mode=mode)
        return [(p.id, p.score or 0.0) for p in found if p.id not in excluded]

    dense, bm25, fused = ranked("dense"), ranked("bm25"), ranked("hybrid")
    return {
        "agree_top1": float(dense[0][0] == bm25[0][0]),
        "agree_top5": float(len({i for i, _ in dense[:5]} & {i for i, _ in bm25[:5]})),
        "bm25_ratio": bm25[0][1] / max(bm25[1][1], 1e-9),
        "rrf_gap12": fused[0][1] - fused[1][1],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="the corpus the eval indexed")
    ap.add_argument("runs", type=Path, nargs="+", help="eval answers --jsonl files")
    args = ap.parse_args()
    settings = load_settings()
    name = eval_collection_name(file_digest(args.corpus), settings)
    retriever = Retriever.from_settings(settings, collection=name)
    for run in args.runs:
        rows: dict[tuple[str, bool], dict[str, Any]] = defaultdict(dict)
        for line in run.read_text().splitlines():
            row = json.loads(line)
            rows[(row["qid"], row["answerable"])][row["variant"]] = row
        known = {
            key: facts(
                retriever,
                pair["plain"]["question"],
                set() if key[1] else set(pair["plain"]["answer_doc_ids"]),
            )
            for key, pair in rows.items()
        }
        print(f"{run}: {sum(k[1] for k in rows)} answerable, {sum(not k[1] for k in rows)} not")
        for label, rule in RULES.items():
            picked = {k: rows[k]["plain" if rule(known[k]) else "default"] for k in rows}
            answerable = [r for k, r in picked.items() if k[1]]
            others = [r for k, r in picked.items() if not k[1]]
            print(
                f"  {label:42s} contains {statistics.mean(r['contains'] for r in answerable):.3f}"
                f"  F1 {statistics.mean(r['f1'] for r in answerable):.3f}"
                f"  abstained unanswerable {statistics.mean(r['abstained'] for r in others):.2f}"
                f"  calls/q {statistics.mean(r['calls'] for r in picked.values()):.2f}"
                f"  skipped {statistics.mean(rule(f) for f in known.values()):.2f}"
            )


if __name__ == "__main__":
    main()
