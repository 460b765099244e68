"""JointRank (Dedov): rank overlapping blocks in parallel, aggregate implied pairwise wins.

The n candidates are laid out in `replicas` partitions into blocks (the first
in input order, the rest seeded shuffles), so each candidate meets many others.
All blocks are ranked at once by a window ranker (listwise or FIRST); each
block ranking says "earlier beats later" for its pairs, and the wins become one
order by win rate or PageRank. Unlike the sliding window, no call waits for
another: the way to keep an engine busy with one query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rankgraph.llm.protocol import ChatClient
from rankgraph.rerank.aggregate import add_ranking, empty, pagerank, win_rate
from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.rerank.first import FirstConfig, FirstReranker
from rankgraph.rerank.fusion import FusionMode
from rankgraph.rerank.listwise import ListwiseConfig, ListwiseReranker
from rankgraph.rerank.options import between, choice, fusion_options
from rankgraph.rerank.run import QueryRun
from rankgraph.rerank.window_rank import WindowRanker
from rankgraph.rerank.windows import blocks
from rankgraph.schema import Passage


@dataclass(frozen=True)
class JointRankConfig:
    block_method: Literal["listwise", "first"] = "first"
    block_size: int = 10
    replicas: int = 3
    aggregate: Literal["winrate", "pagerank"] = "winrate"
    seed: int = 0
    max_words: int = 100
    fusion: FusionMode = "none"
    fusion_weight: float = 0.5

    def __post_init__(self) -> None:
        choice("jointrank", "block_method", self.block_method, ("listwise", "first"))
        between("jointrank", "block_size", self.block_size, 2, 20)
        between("jointrank", "replicas", self.replicas, 1, 20)
        choice("jointrank", "aggregate", self.aggregate, ("winrate", "pagerank"))
        fusion_options("jointrank", self.fusion, self.fusion_weight)


class JointRankReranker:
    """Parallel block rankings, aggregated into one order."""

    name = "jointrank"

    def __init__(self, client: ChatClient, config: JointRankConfig | None = None) -> None:
        self.client = client
        self.config = cfg = config or JointRankConfig()
        self.ranker: WindowRanker
        if cfg.block_method == "first":
            self.ranker = FirstReranker(client, FirstConfig(max_words=cfg.max_words))
        else:
            self.ranker = ListwiseReranker(client, ListwiseConfig(max_words=cfg.max_words))

    async def rerank(
        self,
        query: str,
        passages: Sequence[Passage],
        *,
        top_k: int | None = None,
        budget: Budget | None = None,
    ) -> RerankResult:
        cfg = self.config
        run = QueryRun(self.client, self.name, budget)
        n = len(passages)
        layout = blocks(n, cfg.block_size, cfg.replicas, cfg.seed)
        rankings = await asyncio.gather(
            *(self.ranker.rank_window(run, query, [passages[i] for i in b]) for b in layout)
        )
        wins = empty(n)
        for block, local in zip(layout, rankings, strict=True):
            if local is not None:
                add_ranking(wins, [block[j] for j in local])
        scores = pagerank(wins) if cfg.aggregate == "pagerank" else win_rate(wins)
        if not any(local is not None for local in rankings):
            scores = [0.0] * n  # nothing ranked: keep the input order
        order = sorted(range(n), key=lambda i: (-scores[i], i))
        return run.result(
            query, passages, order, scores, fusion=cfg.fusion, fusion_weight=cfg.fusion_weight
        )
