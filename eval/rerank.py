"""Offline evaluation of a reranker over a first-stage candidate list (TREC DL layout).

Why a library and not just a command: the CLI, the throughput bench and the tests
all need the same three steps — read candidates, rerank every query with a bounded
number in flight, score input and reranked orders with the same measures — and the
numbers must not depend on which of them ran it.

Conventions (METHODS.md, "Evaluation conventions"): runs and qrels in TREC format;
nDCG with graded gains (trec_eval `ndcg_cut`); MRR@10 and recall count rel >= 2 as
relevant. Run files carry rank-derived scores (n, n-1, …) so that every evaluator
reads the order we meant, whatever ties or missing scores the method produced.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import ir_measures
from ir_measures import Qrel, ScoredDoc
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rankgraph.errors import InputError, RankgraphError
from rankgraph.rerank.base import Budget, Reranker, RerankResult
from rankgraph.schema import Passage
from rankgraph.trace import TraceEvent, Usage

log = logging.getLogger(__name__)

CANDIDATES_FILE = "candidates.jsonl"
QRELS_FILE = "qrels.txt"

Run = dict[str, list[tuple[str, float]]]
"""qid → ranked (docid, score), best first."""


# -- input ---------------------------------------------------------------------------------


class _Candidate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    docid: str = Field(min_length=1)
    text: str
    score: float | None = None


class _CandidateLine(BaseModel):
    """One line of candidates.jsonl: a query and its first-stage list, best first."""

    model_config = ConfigDict(extra="ignore")

    qid: str = Field(min_length=1)
    query: str = Field(min_length=1)
    candidates: list[_Candidate]


@dataclass(frozen=True)
class Query:
    """A query and its candidates as Passages (docid → id), in first-stage order."""

    qid: str
    text: str
    passages: tuple[Passage, ...]


def _parse_line(raw: str, where: str) -> _CandidateLine:
    try:
        line = _CandidateLine.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"]) or "line"
        raise InputError(
            f"{where}: {loc}: {first['msg']} (expected "
            '{"qid": str, "query": str, "candidates": [{"docid": str, "text": str, '
            '"score": float}, ...]})'
        ) from exc
    seen: set[str] = set()
    for candidate in line.candidates:
        if candidate.docid in seen:
            raise InputError(
                f"{where}: duplicate docid {candidate.docid!r} in query {line.qid!r}; "
                "each candidate must appear once per query"
            )
        seen.add(candidate.docid)
    return line


def load_candidates(
    path: Path, *, depth: int | None = None, limit: int | None = None
) -> list[Query]:
    """Read a candidates JSONL file: the first `limit` queries, each cut to `depth`.

    Reading stops at `limit`, so a quick `--limit 2` run does not pay for parsing a
    large file. Raises InputError naming the file and line of the first malformed
    entry (bad JSON, a missing field, a docid twice in one query, a qid twice).
    """
    if depth is not None and depth < 1:
        raise InputError(f"depth must be at least 1, got {depth}")
    if limit is not None and limit < 1:
        raise InputError(f"limit must be at least 1, got {limit}")
    if not path.is_file():
        raise InputError(f"candidates file not found: {path}")
    queries: list[Query] = []
    qids: dict[str, int] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            if limit is not None and len(queries) >= limit:
                break
            where = f"{path}:{lineno}"
            line = _parse_line(raw, where)
            if line.qid in qids:
                raise InputError(
                    f"{where}: query {line.qid!r} already appeared on line {qids[line.qid]}"
                )
            qids[line.qid] = lineno
            kept = line.candidates[:depth] if depth is not None else line.candidates
            passages = tuple(Passage(id=c.docid, text=c.text, score=c.score) for c in kept)
            queries.append(Query(qid=line.qid, text=line.query, passages=passages))
    if not queries:
        raise InputError(f"{path} holds no queries")
    return queries


def read_qrels(path: Path) -> list[Qrel]:
    """TREC qrels (`qid 0 docid rel`); InputError naming the file when unreadable."""
    if not path.is_file():
        raise InputError(f"qrels file not found: {path}")
    try:
        return list(ir_measures.read_trec_qrels(str(path)))
    except (ValueError, IndexError) as exc:
        raise InputError(f"{path}: not TREC qrels (qid 0 docid rel): {exc}") from exc


# -- runs ----------------------------------------------------------------------------------


def _ranked(docids: Sequence[str]) -> list[tuple[str, float]]:
    n = len(docids)
    return [(docid, float(n - rank)) for rank, docid in enumerate(docids)]


def input_run(queries: Iterable[Query]) -> Run:
    """The first-stage order as a run."""
    return {q.qid: _ranked([p.id for p in q.passages]) for q in queries}


def result_run(queries: Sequence[Query], results: Sequence[RerankResult]) -> Run:
    """The reranked orders as a run; `results[i]` belongs to `queries[i]`."""
    return {
        q.qid: _ranked([p.id for p in r.passages]) for q, r in zip(queries, results, strict=True)
    }


def format_trec_run(run: Run, tag: str) -> Iterator[str]:
    """Lines `qid Q0 docid rank score tag`, ranks from 1."""
    for qid, ranked in run.items():
        for rank, (docid, score) in enumerate(ranked, start=1):
            yield f"{qid} Q0 {docid} {rank} {score:.6f} {tag}"


def write_trec_run(run: Run, path: Path, tag: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for line in format_trec_run(run, tag):
            fh.write(line + "\n")


def read_trec_run(path: Path) -> Run:
    """Read a TREC run; each query's list ordered by rank. InputError names a bad line."""
    if not path.is_file():
        raise InputError(f"run file not found: {path}")
    rows: dict[str, list[tuple[int, str, float]]] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            fields = raw.split()
            if not fields:
                continue
            try:
                qid, _, docid, rank, score, _tag = fields
                rows.setdefault(qid, []).append((int(rank), docid, float(score)))
            except ValueError as exc:
                raise InputError(
                    f"{path}:{lineno}: expected `qid Q0 docid rank score tag`, got {raw.strip()!r}"
                ) from exc
    return {
        qid: [(docid, score) for _, docid, score in sorted(items)] for qid, items in rows.items()
    }


# -- metrics -------------------------------------------------------------------------------


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
    over all judged queries.
    """
    qrels = [q for q in qrels if q.query_id in run]
    scored = [
        ScoredDoc(qid, docid, score) for qid, ranked in run.items() for docid, score in ranked
    ]
    wanted = measures(depth)
    values = ir_measures.calc_aggregate(list(wanted.values()), qrels, scored)
    return {label: float(values.get(measure, 0.0)) for label, measure in wanted.items()}


# -- reranking -----------------------------------------------------------------------------


def _check_permutation(qid: str, query: Query, result: RerankResult) -> None:
    """A method bug must not turn into a silently wrong metric."""
    n = len(query.passages)
    if sorted(result.order) != list(range(n)) or len(result.passages) != n:
        raise RankgraphError(
            f"method {result.method!r} returned a ranking for query {qid!r} that is not a "
            f"permutation of its {n} candidates (order={result.order[:20]}…); this is a bug "
            "in the method"
        )


async def rerank_queries(
    reranker: Reranker,
    queries: Sequence[Query],
    *,
    concurrency: int = 4,
    top_k: int | None = None,
    budget: Budget | None = None,
) -> list[RerankResult]:
    """Rerank every query, at most `concurrency` queries in flight; results in input order.

    Why bounded: methods that fan out per query (pointwise, JointRank) already fill the
    client's per-endpoint limit; more queries in flight only grow queues and memory.
    Methods that are sequential within a query (sliding-window listwise) are what
    several queries at a time make use of the engine's batching.
    """
    if concurrency < 1:
        raise InputError(f"concurrency must be at least 1, got {concurrency}")
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(query: Query) -> RerankResult:
        nonlocal done
        async with gate:
            if not query.passages:
                return RerankResult(query=query.text, method=reranker.name, passages=[], order=[])
            result = await reranker.rerank(query.text, query.passages, top_k=top_k, budget=budget)
        _check_permutation(query.qid, query, result)
        done += 1
        log.info(
            "reranked %s (%d/%d): %d calls, %d prompt tokens",
            query.qid,
            done,
            len(queries),
            result.usage.calls,
            result.usage.prompt_tokens,
        )
        return result

    tasks = [asyncio.create_task(one(q)) for q in queries]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:  # one query failed: stop the others instead of leaking them
            task.cancel()
        raise


def tagged_events(queries: Sequence[Query], results: Sequence[RerankResult]) -> list[TraceEvent]:
    """All results' events, each with its qid in `data`, for a `--trace` JSONL file."""
    return [
        event.model_copy(update={"data": {**event.data, "qid": q.qid}})
        for q, r in zip(queries, results, strict=True)
        for event in r.events
    ]


class Cost(BaseModel):
    """What the reranking took, summed over queries."""

    queries: int
    usage: Usage
    wall_s: float
    repairs: int
    failures: int
    budget_exhausted: int


def total_cost(results: Sequence[RerankResult], wall_s: float) -> Cost:
    usage = Usage()
    for result in results:
        usage = usage + result.usage
    return Cost(
        queries=len(results),
        usage=usage,
        wall_s=round(wall_s, 3),
        repairs=sum(r.repairs for r in results),
        failures=sum(r.failures for r in results),
        budget_exhausted=sum(r.budget_exhausted for r in results),
    )


class EvalReport(BaseModel):
    """Everything `rankgraph eval rerank` prints, as data (`--json` dumps it)."""

    method: str
    depth: int
    queries: int
    judged_queries: int
    input: dict[str, float]
    reranked: dict[str, float]
    cost: Cost


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


async def evaluate_reranker(
    reranker: Reranker,
    data_dir: Path,
    *,
    depth: int = 100,
    limit: int | None = None,
    concurrency: int = 4,
) -> EvalOutcome:
    """Rerank a data folder's candidates and score input and reranked orders alike."""
    candidates_path, qrels_path = data_files(data_dir)
    queries = load_candidates(candidates_path, depth=depth, limit=limit)
    qrels = read_qrels(qrels_path)
    started = time.perf_counter()
    results = await rerank_queries(reranker, queries, concurrency=concurrency)
    wall_s = time.perf_counter() - started
    before, after = input_run(queries), result_run(queries, results)
    judged = {q.query_id for q in qrels}
    report = EvalReport(
        method=reranker.name,
        depth=depth,
        queries=len(queries),
        judged_queries=sum(q.qid in judged for q in queries),
        input=evaluate(qrels, before, depth),
        reranked=evaluate(qrels, after, depth),
        cost=total_cost(results, wall_s),
    )
    return EvalOutcome(report, queries, before, after, results)


def dump_json(report: EvalReport) -> str:
    return json.dumps(report.model_dump(mode="json"), indent=2)
