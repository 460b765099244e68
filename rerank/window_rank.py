"""Methods that rank a small window of passages in one call, and the sliding loop.

Listwise (generated permutation) and FIRST (first-token logits) both implement
`rank_window`; the RankGPT sliding pass and JointRank's parallel blocks are
written once here and in `jointrank.py`, for either of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

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
