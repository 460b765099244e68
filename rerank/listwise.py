"""RankGPT listwise reranking: the model writes a permutation of a window.

Sliding windows (default 20/10) from the bottom of the list up; a list that fits
is one call. Small models copy format examples (`[1] > [2]`, docs/benchmarks.md), so the
prompt shows no literal answer; every parse repair and every reply that equals
the input order is recorded, so a run that changed nothing says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rankgraph.llm.protocol import ChatClient
from rankgraph.prompts import load_prompt
from rankgraph.prompts.passages import fenced_list
from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.rerank.fusion import FusionMode
from rankgraph.rerank.options import between, fusion_options
from rankgraph.rerank.permutation import is_identity, parse_permutation
from rankgraph.rerank.run import QueryRun
from rankgraph.rerank.window_rank import rerank_sliding
from rankgraph.schema import Passage


@dataclass(frozen=True)
class ListwiseConfig:
    window: int = 20
    stride: int = 10
    max_words: int = 100
    reasoning: bool = False
    max_thinking_tokens: int = 512
    fusion: FusionMode = "none"
    fusion_weight: float = 0.5

    def __post_init__(self) -> None:
        between("listwise", "window", self.window, 2, 100)
        between("listwise", "stride", self.stride, 1, self.window)
        fusion_options("listwise", self.fusion, self.fusion_weight)


class ListwiseReranker:
    """Generated permutations over sliding windows."""

    name = "listwise"

    def __init__(self, client: ChatClient, config: ListwiseConfig | None = None) -> None:
        self.client = client
        self.config = config or ListwiseConfig()
        self.max_window = self.config.window

    async def rerank(
        self,
        query: str,
        passages: Sequence[Passage],
        *,
        top_k: int | None = None,
        budget: Budget | None = None,
    ) -> RerankResult:
        return await rerank_sliding(self, query, passages, budget)

    async def rank_window(
        self, run: QueryRun, query: str, passages: Sequence[Passage]
    ) -> list[int] | None:
        cfg = self.config
        n = len(passages)
        prompt = "rerank_listwise_reasoning" if cfg.reasoning else "rerank_listwise"
        messages = load_prompt(prompt).render(
            query=query,
            n=n,
            passages=fenced_list(passages, [str(i + 1) for i in range(n)], cfg.max_words),
        )
        answer_tokens = 6 * n + 8  # "[12] > " is about 5 tokens
        if cfg.reasoning:
            completion = await run.think_then_answer(
                messages,
                max_thinking_tokens=cfg.max_thinking_tokens,
                max_answer_tokens=answer_tokens,
            )
        else:
            completion = await run.complete(messages, max_tokens=answer_tokens)
        if completion is None:
            return None
        order, repairs = parse_permutation(completion.text, n)
        run.record(
            completion,
            parsed=[i + 1 for i in order],
            repairs=repairs,
            passage_ids=[p.id for p in passages],
            identity=is_identity(order),
        )
        return order
