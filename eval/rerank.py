"""Offline evaluation of a reranker over a judged first-stage candidate list (TREC DL layout).

Why a library and not just a command: the CLI, the throughput bench and the tests
all need the same steps — read candidates and qrels, rerank every query, score input
and reranked orders with the same measures — and the numbers must not depend on
which of them ran it.

Conventions: qrels in TREC format; nDCG with graded gains (trec_eval `ndcg_cut`);
MRR@10 and recall count rel >= 2 as relevant. Metrics are averaged over the queries
that have judgments; a run with none is an error, not a row of NaN.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import ir_measures
from ir_measures import Qrel, ScoredDoc
from pydantic import BaseModel

from rankgraph.errors import InputError
from rankgraph.eval.compare import paired_permutation_p, paired_t_p, per_query
from rankgraph.rerank.base import Reranker, RerankResult
from rankgraph.rerank.batch import Cost, OnFailure, degraded_queries, rerank_queries, total_cost
from rankgraph.rerank.candidates import MAX_REPORTED, Query, load_candidates
from rankgraph.rerank.trec import Run, input_run, result_run

CANDIDATES_FILE = "candidates.jsonl"
QRELS_FILE = "qrels.txt"


# -- qrels -------------------------------------------------------------------------------


def _qrel(fields: list[str]) -> Qrel:
    if len(fields) != 4:
        raise ValueError(f"{len(fields)} fields")
    qid, _iteration, docid, rel = fields
    return Qrel(qid, docid, int(rel))


def read_qrels(path: Path) -> list[Qrel]:
    """TREC qrels (`qid iteration docid relevance`); blank and `#` lines are skipped.

    Raises one InputError listing every malformed line with its number, or saying the
    file holds no judgments.
    """
    if not path.is_file():
        raise InputError(f"qrels file not found: {path}")
    qrels: list[Qrel] = []
    problems: list[str] = []
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            text = raw.decode("utf-8", errors="replace").strip()
            if not text or text.startswith("#"):
                continue
            try:
                qrels.append(_qrel(text.split()))
            except ValueError:
                problems.append(
                    f"{path}:{lineno}: expected `qid 0 docid relevance` (relevance an integer), "
                    f"got {text[:80]!r}"
                )
    if problems:
        more = len(problems) - MAX_REPORTED
        raise InputError(
            "\n".join(problems[:MAX_REPORTED] + ([f"… and {more} more"] if more > 0 else []))
        )
    if not qrels:
        raise InputError(f"{path} holds no judgments (lines `qid 0 docid relevance`)")
    return qrels


# -- metrics -----------------------------------------------------------------------------


def measures(depth: int) -> dict[str, ir_measures.Measure]:
    """Display label → ir_measures measure; binary ones at rel >= 2 (TREC DL)."""
    return {
        "nDCG@1": ir_measures.parse_measure("nDCG@1"),
        "nDCG@5": ir_measures.parse_measure("nDCG@5"),
        "nDCG@10": ir_measures.parse_measure("nDCG@10"),
        "MRR@10": ir_measures.parse_measure("RR(rel=2)@10"),
        f"R@{depth}": ir_measures.parse_measure(f"R(rel=2)@{depth}"),
    }


def evaluate(qrels: Sequence[Qrel], run: Run, depth: int) -> dict[str, float]:
    """Mean of each measure over the run's queries that have judgments.

    Qrels are cut to the run's queries first: ir_measures would otherwise count a
    judged query missing from the run as 0, so a `--limit 10` run would be averaged
    over all judged queries. InputError when no query of the run is judged.
    """
    qrels = [q for q in qrels if q.query_id in run]
    if not qrels:
        raise InputError(
            f"none of the {len(run)} queries has judgments in the qrels; check that the qids "
            "of candidates and qrels match"
        )
    scored = [
        ScoredDoc(qid, docid, score) for qid, ranked in run.items() for docid, score in ranked
    ]
    wanted = measures(depth)
    values = ir_measures.calc_aggregate(list(wanted.values()), qrels, scored)
    return {label: float(values.get(measure, 0.0)) for label, measure in wanted.items()}


# -- the evaluation ----------------------------------------------------------------------


class EvalReport(BaseModel):
    """Everything `rankgraph eval rerank` prints, as data (`--json` dumps it).

    `degraded` is true when LLM calls failed and their windows kept the input order
    (only with on_failure="keep_order"); `degraded_qids` names those queries, and
    `reranked` then does not measure the method alone.
    """

    method: str
    depth: int
    queries: int
    judged_queries: int
    input: dict[str, float]
    reranked: dict[str, float]
    cost: Cost
    degraded: bool = False
    degraded_qids: list[str] = []
    # nDCG@10 per judged query, input order and reranked; the paired tests of the
    # difference (randomization, seeded; t-test when scipy is installed)
    input_ndcg10: dict[str, float] = {}
    reranked_ndcg10: dict[str, float] = {}
    p_value: float | None = None
    p_value_t: float | None = None
    label: str | None = None


@dataclass(frozen=True)
class EvalOutcome:
    report: EvalReport
    queries: list[Query]
    input_run: Run
    reranked_run: Run
    results: list[RerankResult]


def data_files(data_dir: Path) -> tuple[Path, Path]:
    """The folder's candidates and qrels paths, or an InputError naming the missing one."""
    candidates, qrels = data_dir / CANDIDATES_FILE, data_dir / QRELS_FILE
    for path in (candidates, qrels):
        if not path.is_file():
            raise InputError(
                f"{path} not found: an eval data folder holds {CANDIDATES_FILE} and {QRELS_FILE} "
                "(see the layout of data/trec-dl19)"
            )
    return candidates, qrels


@dataclass(frozen=True)
class EvalInput:
    """A data folder read and checked: everything that can fail before an LLM call."""

    queries: list[Query]
    qrels: list[Qrel]
    depth: int


def load_eval_input(data_dir: Path, *, depth: int = 100, limit: int | None = None) -> EvalInput:
    candidates_path, qrels_path = data_files(data_dir)
    queries = load_candidates(candidates_path, depth=depth, limit=limit)
    qrels = read_qrels(qrels_path)
    evaluate(qrels, input_run(queries), depth)  # no judged query: fail before paying
    return EvalInput(queries, qrels, depth)


async def evaluate_reranker(
    reranker: Reranker,
    data: Path | EvalInput,
    *,
    depth: int = 100,
    limit: int | None = None,
    concurrency: int = 4,
    on_failure: OnFailure = "raise",
    on_done: Callable[[int], None] | None = None,
) -> EvalOutcome:
    """Rerank a data folder's candidates and score input and reranked orders alike."""
    loaded = (
        data if isinstance(data, EvalInput) else load_eval_input(data, depth=depth, limit=limit)
    )
    queries, qrels, depth = loaded.queries, loaded.qrels, loaded.depth
    started = time.perf_counter()
    results = await rerank_queries(
        reranker, queries, concurrency=concurrency, on_failure=on_failure, on_done=on_done
    )
    wall_s = time.perf_counter() - started
    before, after = input_run(queries), result_run(queries, results)
    judged = {q.query_id for q in qrels}
    degraded = degraded_queries(queries, results)
    per_before, per_after = per_query(qrels, before), per_query(qrels, after)
    report = EvalReport(
        method=reranker.name,
        depth=depth,
        queries=len(queries),
        judged_queries=sum(q.qid in judged for q in queries),
        input=evaluate(qrels, before, depth),
        reranked=evaluate(qrels, after, depth),
        cost=total_cost(results, wall_s),
        degraded=bool(degraded),
        degraded_qids=degraded,
        input_ndcg10=per_before,
        reranked_ndcg10=per_after,
        p_value=paired_permutation_p(per_before, per_after),
        p_value_t=paired_t_p(per_before, per_after),
    )
    return EvalOutcome(report, queries, before, after, results)


def dump_json(report: EvalReport) -> str:
    """Strict JSON (no NaN or Infinity, which JSON does not have)."""
    return json.dumps(report.model_dump(mode="json"), indent=2, allow_nan=False)


def dump_json_list(reports: Sequence[EvalReport]) -> str:
    """Several reports (`--method a,b`) as one strict JSON list."""
    return json.dumps([r.model_dump(mode="json") for r in reports], indent=2, allow_nan=False)
