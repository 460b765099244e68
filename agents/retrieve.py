"""retrieve: search for every query at once (the retriever fuses them with RRF).

On a corrective round the passages already kept are carried over, so a second
search can only add evidence, never lose what the filter accepted.
"""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime

from rankgraph.agents.deps import Deps
from rankgraph.agents.passages import dedupe, ids
from rankgraph.agents.state import RAGState
from rankgraph.trace import step


async def retrieve_node(state: RAGState, runtime: Runtime[Deps]) -> dict[str, Any]:
    config = runtime.context.config.retrieve
    queries = state.get("queries") or [state["question"]]
    started = time.perf_counter()
    kwargs: dict[str, Any] = {"k": config.k, "where": config.where}
    if config.mode is not None:
        kwargs["mode"] = config.mode
    found = await runtime.context.retriever.asearch_many(queries, **kwargs)
    latency_ms = (time.perf_counter() - started) * 1000
    candidates = dedupe([*state.get("kept", []), *found])
    rounds = state.get("rounds", 0) + 1
    event = step(
        "retrieve",
        method=config.mode,
        latency_ms=latency_ms,
        round=rounds,
        queries=queries,
        found=len(found),
        carried=len(candidates) - len(found),
        ids=ids(candidates),
        titles={p.id: p.title for p in candidates if p.title},
        ranks={p.id: p.ranks for p in candidates if p.ranks},  # why each was found
    )
    return {"candidates": candidates, "rounds": rounds, "trace": [event]}
