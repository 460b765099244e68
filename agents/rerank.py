"""rerank: order the first `depth` candidates with the configured method, keep the top-k.

The method is whatever `rankgraph.rerank.build` made from the config; this node
asks it for an order, records how far each passage moved, and stores a judge's
relevance scores (pointwise) in `judged` so the filter does not ask again.

It steps aside when the first stage is already confident: when the dense and BM25
lists agree on `skip_if_agree` of their top-k passages, out of a full pool of
candidates, the fused order is kept and no LLM call is made (adaptive spend; the
trace gives the agreement it saw either way).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from langgraph.runtime import Runtime

from rankgraph.agents.deps import Deps
from rankgraph.agents.passages import ids
from rankgraph.agents.state import RAGState, judge_key
from rankgraph.errors import LLMUnavailable
from rankgraph.rerank.base import Budget
from rankgraph.schema import Passage
from rankgraph.trace import Usage, step


def moves(before: list[Passage], after: list[Passage]) -> list[tuple[str, int, int]]:
    """(id, old rank, new rank), 1-based, for every passage whose rank changed.

    >>> a, b = Passage(id="a", text=""), Passage(id="b", text="")
    >>> moves([a, b], [b, a])
    [('b', 2, 1), ('a', 1, 2)]
    """
    old = {p.id: i for i, p in enumerate(before, start=1)}
    return [(p.id, old[p.id], i) for i, p in enumerate(after, start=1) if old.get(p.id) != i]


def agreement(candidates: Sequence[Passage], top: int) -> int | None:
    """How many candidates both the dense and the BM25 list rank in their top `top`;
    None when the candidates did not come from both lists (a dense- or BM25-only search).

    >>> ps = [Passage(id="a", text="", ranks={"dense": 1, "bm25": 2}),
    ...       Passage(id="b", text="", ranks={"dense": 2, "bm25": 9}),
    ...       Passage(id="c", text="", ranks={"bm25": 1})]
    >>> agreement(ps, 5), agreement(ps, 9), agreement(ps[:2], 5)
    (1, 2, 1)
    >>> agreement([Passage(id="a", text="", ranks={"dense": 1})], 5) is None
    True
    """
    lists = ("dense", "bm25")
    if not set(lists) <= {kind for p in candidates for kind in p.ranks}:
        return None
    return sum(1 for p in candidates if all(p.ranks.get(kind, top + 1) <= top for kind in lists))


async def rerank_node(state: RAGState, runtime: Runtime[Deps]) -> dict[str, Any]:
    config = runtime.context.config.rerank
    candidates = state.get("candidates", [])
    head = candidates[: config.depth or len(candidates)]

    def skipped(reason: str, **data: Any) -> dict[str, Any]:
        """The fused order kept, no LLM call, and why."""
        event = step("rerank", method="skip", reason=reason, **data)
        return {"reranked": candidates[: config.top_k], "trace": [event]}

    if len(head) < 2:
        return skipped("no candidates" if not candidates else "one candidate: nothing to reorder")
    agreed = agreement(candidates, config.top_k)
    # In a pool smaller than the search's k (a tiny corpus, a narrow `where`), two top-k
    # lists overlap by chance, so their agreement says nothing about confidence.
    full_pool = len(candidates) >= runtime.context.config.retrieve.k
    skip = config.skip_if_agree
    if skip and agreed is not None and full_pool and agreed >= skip:
        return skipped(
            f"first stage confident: dense and BM25 share {agreed} of their top "
            f"{config.top_k} (skip_if_agree={skip})",
            agreement=agreed,
        )
    query = state.get("standalone") or state["question"]
    budget = Budget(max_calls=config.max_calls, max_prompt_tokens=config.max_prompt_tokens)
    started = time.perf_counter()
    result = await runtime.context.reranker.rerank(query, head, top_k=config.top_k, budget=budget)
    if result.failures and config.on_failure == "raise":
        cause = result.first_error()
        raise LLMUnavailable(
            f"rerank ({result.method}): {result.failures} LLM call(s) failed"
            + (f" ({cause})" if cause else "")
            + "; set pipeline.rerank.on_failure = 'keep_order' to answer from the prior order"
        )
    ordered = [*result.passages, *candidates[len(head) :]]
    top = ordered[: config.top_k]
    summary = step(
        "rerank",
        method=result.method,
        latency_ms=(time.perf_counter() - started) * 1000,
        depth=len(head),
        agreement=agreed,
        before=ids(candidates[: config.top_k]),
        after=ids(top),
        moves=moves(candidates, ordered)[:20],
        repairs=result.repairs,
        failures=result.failures,
        budget_exhausted=result.budget_exhausted,
    )
    if not result.events:  # a method that reports only totals: keep its cost in the trace
        summary = summary.model_copy(update={"usage": result.usage})
    else:
        summary = summary.model_copy(update={"usage": Usage()})
    events = [e.model_copy(update={"node": "rerank"}) for e in result.events]
    update: dict[str, Any] = {"reranked": top, "trace": [*events, summary]}
    if result.relevance and result.judge:
        judged = dict(state.get("judged", {}))
        key = judge_key(result.judge, query)
        judged[key] = {**judged.get(key, {}), **result.relevance}
        update["judged"] = judged
    return update
