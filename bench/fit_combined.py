"""Fit the `combined` reranker's weights on DL19 dev queries, from eval traces.

The signals per candidate are read from `eval rerank --trace` files of the
single-signal methods (no LLM call here): yes/no P(Yes) as a logit, the graded
expectation, QLM's mean query log-probability, and the first-stage score. Each is
z-scored per query; the combined score is their weighted sum. The weights are
searched on a coarse simplex grid (step 0.1, all non-negative: a signal may only
help, few effective parameters) to maximise mean nDCG@10 on the DEV queries —
DL19's first 22 queries in file order — and reported on the other 21 (TEST) and
on all 43. The chosen weights are the `combined` method's defaults
(`rankgraph.rerank.combined.FITTED`); this script prints them.

    D=/work/shared/data/trec-dl19
    rankgraph eval rerank --data $D --depth 20 --trace T.jsonl \\
        --method pointwise,pointwise:variant=graded,qlm
    .venv/bin/python bench/fit_combined.py --data $D --depth 20 \\
        --yesno T.pointwise.jsonl --graded T.pointwise_variant=graded.jsonl --qlm T.qlm.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from rankgraph.eval import rerank as ev
from rankgraph.eval.compare import per_query
from rankgraph.rerank.candidates import Query, load_candidates
from rankgraph.rerank.combined import combine

DEV_QUERIES = 22
Features = dict[str, dict[str, dict[str, float]]]  # qid → docid → signal → value


def read_trace(path: Path, transform: str) -> dict[tuple[str, str], float]:
    """(qid, docid) → the parsed score of each LLM call in an `eval rerank --trace` file."""
    out: dict[tuple[str, str], float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        data = event.get("data") or {}
        if event.get("kind") != "llm" or "passage_id" not in data or event.get("error"):
            continue
        value = float(event["parsed"])
        if transform == "logit":
            p = min(max(value, 1e-6), 1 - 1e-6)
            value = math.log(p / (1 - p))
        out[(data["qid"], data["passage_id"])] = value
    return out


def features(
    queries: Sequence[Query], traces: Mapping[str, dict[tuple[str, str], float]]
) -> Features:
    out: Features = {}
    for q in queries:
        out[q.qid] = {}
        for p in q.passages:
            row = {"first_stage": float(p.score or 0.0)}
            for name, values in traces.items():
                row[name] = values[(q.qid, p.id)]
            out[q.qid][p.id] = row
    return out


def ndcg(qrels: list, feats: Features, weights: Mapping[str, float], qids: Sequence[str]) -> float:
    run = {}
    for qid in qids:
        docs = list(feats[qid])
        scores = combine([feats[qid][d] for d in docs], weights)
        run[qid] = sorted(zip(docs, scores, strict=True), key=lambda x: -x[1])
    values = per_query(qrels, run)
    return statistics.fmean(values.values())


def grid(names: Sequence[str], step: float) -> list[dict[str, float]]:
    n = round(1 / step)
    out = []
    for parts in itertools.product(range(n + 1), repeat=len(names)):
        if sum(parts) == n:
            out.append({k: v * step for k, v in zip(names, parts, strict=True)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--yesno", type=Path)
    ap.add_argument("--graded", type=Path)
    ap.add_argument("--qlm", type=Path)
    ap.add_argument("--step", type=float, default=0.1)
    args = ap.parse_args()
    traces = {}
    for name, path, transform in (
        ("yesno", args.yesno, "logit"),
        ("graded", args.graded, "none"),
        ("qlm", args.qlm, "none"),
    ):
        if path is not None:
            traces[name] = read_trace(path, transform)
    queries = load_candidates(args.data / "candidates.jsonl", depth=args.depth)
    qrels = ev.read_qrels(args.data / "qrels.txt")
    feats = features(queries, traces)
    qids = [q.qid for q in queries]
    dev, test = qids[:DEV_QUERIES], qids[DEV_QUERIES:]
    names = ["first_stage", *traces]

    def report(label: str, weights: Mapping[str, float]) -> None:
        shown = ", ".join(f"{k}={v:.2f}" for k, v in weights.items() if v)
        d, t, a = (ndcg(qrels, feats, weights, part) for part in (dev, test, qids))
        print(f"{label:<28} dev {d:.4f}  test {t:.4f}  all {a:.4f}   [{shown}]")

    report("first stage (BM25)", {"first_stage": 1.0})
    for name in traces:
        report(f"{name} alone", {name: 1.0})
        report(f"{name} + BM25 (0.5/0.5)", {name: 0.5, "first_stage": 0.5})
    equal = {k: 1 / len(names) for k in names}
    report("equal weights", equal)
    candidates = grid(names, args.step)
    scored = sorted(candidates, key=lambda w: -ndcg(qrels, feats, w, dev))
    for rank, weights in enumerate(scored[:5], start=1):
        report(f"dev fit #{rank}", weights)
    best = scored[0]
    print("FITTED =", json.dumps({k: round(v, 2) for k, v in best.items() if v}))


if __name__ == "__main__":
    main()
