"""Rerank in one call, as in the `rerankers` library:

    import rankgraph
    result = rankgraph.rerank("what is BM25?", ["BM25 is a ranking function", "Paris"])
    result.passages[0].text          # best first; result.order maps back to the input

`rerank` (sync) and `arerank` (async) share one code path. The LLM endpoint is
the one `LLMClient.from_settings` finds: `llm.base_urls`, else the running engine
(`rankgraph engine start`). Imports happen inside the functions so that
`import rankgraph` (and `rankgraph --help`) stay fast.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rankgraph.config import Settings
    from rankgraph.rerank.base import Budget, RerankResult
    from rankgraph.schema import Passage


def as_passages(docs: Sequence[str | Passage]) -> list[Passage]:
    """Passages from plain strings (id = position in the input) or Passages as given."""
    from rankgraph.schema import Passage

    return [d if isinstance(d, Passage) else Passage(id=str(i), text=d) for i, d in enumerate(docs)]


async def arerank(
    query: str,
    docs: Sequence[str | Passage],
    method: str | None = None,
    *,
    settings: Settings | None = None,
    top_k: int | None = None,
    budget: Budget | None = None,
    **options: Any,
) -> RerankResult:
    """Rerank `docs` for `query` with `method` (None: `rankgraph.rerank.DEFAULT_METHOD`, or
    `PORTABLE_METHOD` on an engine without prompt logprobs);
    `options` are the method's config fields.

    Unknown methods or options raise ConfigError listing the valid ones; no
    reachable endpoint raises LLMUnavailable saying how to start one (a method that
    makes no LLM call, "none" or "embedding", needs none).
    """
    from rankgraph.config import load_settings
    from rankgraph.llm import LLMClient
    from rankgraph.rerank import DEFAULT_METHOD, build, method_for, needs_client

    settings = settings or load_settings()
    method = method_for(settings.engine.kind, method, default=DEFAULT_METHOD, **options)
    passages = as_passages(docs)
    if not needs_client(method):
        return await build(method, None, **options).rerank(
            query, passages, top_k=top_k, budget=budget
        )
    async with LLMClient.from_settings(settings) as client:
        reranker = build(method, client, **options)
        return await reranker.rerank(query, passages, top_k=top_k, budget=budget)


def rerank(
    query: str,
    docs: Sequence[str | Passage],
    method: str | None = None,
    *,
    settings: Settings | None = None,
    top_k: int | None = None,
    budget: Budget | None = None,
    **options: Any,
) -> RerankResult:
    """The blocking twin of `arerank` (same arguments, same result).

    Inside a running event loop (a notebook) it runs on a worker thread's own
    loop, since a loop cannot block on itself; prefer `await arerank(...)` there.
    """
    call = arerank(query, docs, method, settings=settings, top_k=top_k, budget=budget, **options)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(call)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, call).result()
