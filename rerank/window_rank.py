"""Methods that rank a small window of passages in one call, and the sliding loop.

Listwise (generated permutation) and FIRST (first-token logits) both implement
`rank_window`; the RankGPT sliding pass and JointRank's parallel blocks are
written once here and in `jointrank.py`, for either of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rankgraph.llm.protocol import ChatClient
from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.rerank.fusion import FusionMode
from rankgraph.rerank.run import QueryRun
from rankgraph.rerank.windows import windows
from rankgraph.schema import Passage


class WindowRanker(Protocol):
    """Ranks up to `max_window` passages in one LLM call."""

    max_window: int

    async def rank_window(
        self, run: QueryRun, query: str, passages: Sequence[Passage]
    ) -> list[int] | None:
        """Local permutation (best first) of range(len(passages)); None when no call was
        made or it failed (the run has recorded why), so the caller keeps the prior order."""
        ...


async def slide(
    ranker: WindowRanker,
    run: QueryRun,
    query: str,
    passages: Sequence[Passage],
    size: int,
    stride: int,
) -> list[int]:
    """One RankGPT pass, bottom window first; returns the new order of input indices.

    Windows run one after another (each depends on the previous one's output);
    when the budget runs out the pass stops with the order so far.
    """
    order = list(range(len(passages)))
    for window in windows(len(order), size, stride):
        part = order[window]
        local = await ranker.rank_window(run, query, [passages[i] for i in part])
        if run.exhausted:
            break
        if local is not None:
            order[window] = [part[j] for j in local]
    return order


class SlidingConfig(Protocol):
    @property
    def window(self) -> int: ...
    @property
    def stride(self) -> int: ...
    @property
    def fusion(self) -> FusionMode: ...
    @property
    def fusion_weight(self) -> float: ...


class SlidingRanker(WindowRanker, Protocol):
    """A window ranker that reranks a whole list by one sliding pass."""

    name: str

    @property
    def client(self) -> ChatClient: ...
    @property
    def config(self) -> SlidingConfig: ...


async def rerank_sliding(
    ranker: SlidingRanker, query: str, passages: Sequence[Passage], budget: Budget | None
) -> RerankResult:
    """`Reranker.rerank` for listwise and FIRST: one sliding pass, then optional fusion."""
    cfg = ranker.config
    run = QueryRun(ranker.client, ranker.name, budget)
    order = await slide(ranker, run, query, passages, cfg.window, cfg.stride)
    return run.result(query, passages, order, fusion=cfg.fusion, fusion_weight=cfg.fusion_weight)
