"""PRP, pairwise ranking prompting: "which of A and B answers better?", both orders.

Each comparison asks twice, with the passages swapped, and reads P("A") / P("B")
from the first token's logprobs (cheaper and smoother than parsing text). With
`soft=False` (the paper) a consistent preference is a win (1) and an inconsistent
one ½ each, so position bias cancels; `soft=True` uses the mean probability.
Variants: `allpairs` (all O(n²) comparisons at once, win counts), `heapsort`
(top-k, O(n log n) sequential comparisons), `sliding` (k bubble passes from the
bottom, O(k·n)).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rankgraph.llm.labels import TOP_LOGPROBS, label_logprobs, softmax, unseen
from rankgraph.llm.protocol import ChatClient
from rankgraph.prompts import load_prompt
from rankgraph.prompts.passages import fenced_list
from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.rerank.fusion import FusionMode
from rankgraph.rerank.heap import heap_top_k
from rankgraph.rerank.options import between, choice, fusion_options
from rankgraph.rerank.run import QueryRun
from rankgraph.schema import Passage


@dataclass(frozen=True)
class PairwiseConfig:
    variant: Literal["allpairs", "heapsort", "sliding"] = "heapsort"
    k: int = 10  # top-k for heapsort / passes for sliding, when rerank() gets no top_k
    soft: bool = False
    max_words: int = 100
    fusion: FusionMode = "none"
    fusion_weight: float = 0.5

    def __post_init__(self) -> None:
        choice("pairwise", "variant", self.variant, ("allpairs", "heapsort", "sliding"))
        between("pairwise", "k", self.k, 1, 10_000)
        fusion_options("pairwise", self.fusion, self.fusion_weight)


def preference(p_first: float | None, p_second: float | None, *, soft: bool) -> float | None:
    """How much the passage shown first in the first call wins, from both calls.

    `p_first`: P(A) when it was A; `p_second`: P(B) when it was B. One missing
    call falls back to the other; both missing is None.

    >>> preference(0.9, 0.8, soft=False), preference(0.9, 0.2, soft=False)
    (1.0, 0.5)
    >>> preference(0.9, 0.2, soft=True)
    0.55
    """
    seen = [p for p in (p_first, p_second) if p is not None]
    if not seen:
        return None
    if soft:
        return sum(seen) / len(seen)
    votes = [1.0 if p > 0.5 else 0.0 if p < 0.5 else 0.5 for p in seen]
    return sum(votes) / len(votes)


class PairwiseReranker:
    """PRP with label logprobs, in three sorting strategies."""

    name = "pairwise"

    def __init__(self, client: ChatClient, config: PairwiseConfig | None = None) -> None:
        self.client = client
        self.config = config or PairwiseConfig()

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
        k = top_k or cfg.k
        n = len(passages)
        scores: list[float] | None = None

        async def prefer(i: int, j: int) -> float | None:
            return await self._compare(run, query, passages[i], passages[j])

        if cfg.variant == "allpairs":
            pairs = list(itertools.combinations(range(n), 2))
            outcomes = await asyncio.gather(*(prefer(i, j) for i, j in pairs))
            scores = [0.0] * n
            for (i, j), p in zip(pairs, outcomes, strict=True):
                p = 0.5 if p is None else p
                scores[i] += p
                scores[j] += 1 - p
            order = sorted(range(n), key=lambda i: (-scores[i], i))
        elif cfg.variant == "heapsort":

            async def best_of(pair: list[int]) -> int | None:
                p = await prefer(pair[0], pair[1])
                return None if p is None or p == 0.5 else (0 if p > 0.5 else 1)

            order = await heap_top_k(range(n), k, best_of, 1, lambda: run.exhausted)
        else:
            order = list(range(n))
            for start in range(min(k, n - 1)):
                if run.exhausted:
                    break
                for i in range(n - 2, start - 1, -1):
                    p = await prefer(order[i + 1], order[i])
                    if run.exhausted:
                        break
                    if p is not None and p > 0.5:
                        order[i], order[i + 1] = order[i + 1], order[i]
        return run.result(
            query, passages, order, scores, fusion=cfg.fusion, fusion_weight=cfg.fusion_weight
        )

    async def _compare(self, run: QueryRun, query: str, a: Passage, b: Passage) -> float | None:
        """Preference for `a` over `b`, asking in both orders concurrently."""
        p_a, p_b = await asyncio.gather(
            self._ask(run, query, a, b, "A"), self._ask(run, query, b, a, "B")
        )
        return preference(p_a, p_b, soft=self.config.soft)

    async def _ask(
        self, run: QueryRun, query: str, first: Passage, second: Passage, label: str
    ) -> float | None:
        """P(label) for one order; `label` is where the passage of interest sits."""
        messages = load_prompt("rerank_pairwise").render(
            query=query,
            passages=fenced_list([first, second], ["A", "B"], self.config.max_words),
        )
        completion = await run.complete(messages, max_tokens=1, top_logprobs=TOP_LOGPROBS)
        if completion is None:
            return None
        logprobs = label_logprobs(completion.logprobs[0].top, ["A", "B"])
        repairs = []
        if len(unseen(logprobs)) == 2:
            token = completion.logprobs[0].token
            repairs.append(f"neither A nor B among the top tokens (first {token!r}); scored ½")
        probabilities = softmax(logprobs)
        run.record(
            completion,
            parsed={k: round(v, 6) for k, v in probabilities.items()},
            repairs=repairs,
            passage_ids=[first.id, second.id],
        )
        return probabilities[label]
