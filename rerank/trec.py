"""TREC run files: `qid Q0 docid rank score tag`, one line per ranked document.

Runs carry rank-derived scores (n, n-1, …) so that every evaluator reads the order
we meant, whatever ties or missing scores a method produced.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from rankgraph.errors import InputError
from rankgraph.rerank.base import RerankResult
from rankgraph.rerank.candidates import Query

Run = dict[str, list[tuple[str, float]]]
"""qid → ranked (docid, score), best first."""

DEGRADED_SUFFIX = "-degraded"
"""Appended to the run tag when LLM calls failed and their windows kept the prior order."""


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


def run_tag(method: str, *, degraded: bool) -> str:
    """`rankgraph-METHOD`, with `-degraded` when failed calls left parts in prior order."""
    return f"rankgraph-{method}{DEGRADED_SUFFIX if degraded else ''}"


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
    with path.open(encoding="utf-8", errors="replace") as fh:
        for lineno, raw in enumerate(fh, start=1):
            fields = raw.split()
            if not fields or fields[0].startswith("#"):
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
