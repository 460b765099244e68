"""Rerank many queries with a bounded number in flight, under one failure policy.

Why a policy here and not per method: a method keeps a window's prior order when
its LLM call fails (recorded in the trace), which is right inside one query but
wrong for a run — an unreachable engine would otherwise produce a "reranked" run
that is the input order. So a run either stops at the first query whose calls
failed (`on_failure="raise"`, the default) or keeps going and says it is degraded
(`"keep_order"`): the caller marks its output (run tag, JSON) from `degraded`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel

from rankgraph.errors import LLMCallsFailed, RankgraphError
from rankgraph.rerank.base import Budget, Reranker, RerankResult
from rankgraph.rerank.candidates import Query
from rankgraph.trace import TraceEvent, Usage

log = logging.getLogger(__name__)

OnFailure = Literal["raise", "keep_order"]
ON_FAILURE: tuple[OnFailure, ...] = ("raise", "keep_order")


def check_permutation(query: Query, result: RerankResult) -> None:
    """A method bug must not turn into a silently wrong metric."""
    n = len(query.passages)
    if sorted(result.order) != list(range(n)) or len(result.passages) != n:
        raise RankgraphError(
            f"method {result.method!r} returned a ranking for query {query.qid!r} that is not a "
            f"permutation of its {n} candidates (order={result.order[:20]}…); this is a bug "
            "in the method"
        )


def failure_error(query: Query, result: RerankResult) -> LLMCallsFailed:
    """What failed in `query`, the cause, and the two ways on."""
    total = result.failures + result.usage.calls
    return LLMCallsFailed(
        f"query {query.qid!r}: {result.failures} of {total} LLM calls failed "
        f"({result.first_error()}); stopped without writing results. Fix the engine and rerun "
        "(finished calls are served from the response cache), or allow a degraded run "
        "(--allow-failures; on_failure='keep_order' in the library), in which failed windows "
        "keep their prior order and the output is marked degraded"
    )


async def rerank_queries(
    reranker: Reranker,
    queries: Sequence[Query],
    *,
    concurrency: int = 4,
    top_k: int | None = None,
    budget: Budget | None = None,
    on_failure: OnFailure = "raise",
    on_done: Callable[[int], None] | None = None,
) -> list[RerankResult]:
    """Rerank every query, at most `concurrency` in flight; results in input order.

    Why bounded: methods that fan out per query (pointwise, JointRank) already fill the
    client's per-endpoint limit; more queries in flight only grow queues and memory.
    Methods that are sequential within a query (sliding-window listwise) are what
    several queries at a time make use of the engine's batching.

    With `on_failure="raise"` the first query with a failed LLM call raises
    `LLMCallsFailed` and the other queries are cancelled. `on_done(1)` is called as
    each query finishes (progress bars).
    """
    if concurrency < 1:
        raise RankgraphError(f"concurrency must be at least 1, got {concurrency}")
    if on_failure not in ON_FAILURE:
        raise RankgraphError(f"on_failure={on_failure!r}: choose one of {', '.join(ON_FAILURE)}")
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(query: Query) -> RerankResult:
        nonlocal done
        async with gate:
            result = await reranker.rerank(query.text, query.passages, top_k=top_k, budget=budget)
        check_permutation(query, result)
        if result.failures and on_failure == "raise":
            raise failure_error(query, result)
        done += 1
        log.info(
            "reranked %s (%d/%d): %d calls, %d failed, %d prompt tokens",
            query.qid,
            done,
            len(queries),
            result.usage.calls,
            result.failures,
            result.usage.prompt_tokens,
        )
        if on_done is not None:
            on_done(1)
        return result

    tasks = [asyncio.create_task(one(q)) for q in queries]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:  # one query failed: stop the others instead of leaking them
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
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


def degraded_queries(queries: Sequence[Query], results: Sequence[RerankResult]) -> list[str]:
    """qids whose reranking had failed LLM calls (their failed windows kept prior order)."""
    return [q.qid for q, r in zip(queries, results, strict=True) if r.failures]
