"""Two stages over a deep list: a cheap scorer on every candidate, the full judge on
the best few.

Stage 1 (`first = "pointwise"`) judges every candidate with a brief yes/no prompt on
its first `first_words` words, fused with the first-stage score (zscore, weight 0.5),
or (`first = "embedding"`) re-scores them with a bi-encoder and no LLM call (the
`embedding` method with its defaults);
stage 2 reranks that order's top `top` with the full method (`final`:
`pointwise`, `qlm` or `combined`), the rest stays in stage-1 order below. With the
defaults (10 words, top 10, QLM) a top-100 list costs under half the prompt
tokens of the RankGPT sliding window (20 / 10) over it (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rankgraph.errors import ConfigError, PromptError
from rankgraph.llm.protocol import ChatClient
from rankgraph.prompts import load_prompt
from rankgraph.rerank.base import Budget, Reranker, RerankResult
from rankgraph.rerank.combined import CombinedReranker
from rankgraph.rerank.embedding import EmbeddingReranker
from rankgraph.rerank.identity import IdentityReranker
from rankgraph.rerank.options import between, choice
from rankgraph.rerank.pointwise import PointwiseConfig, PointwiseReranker
from rankgraph.rerank.qlm import QLMReranker
from rankgraph.schema import Passage
from rankgraph.trace import TraceEvent, step

FIRST = ("pointwise", "embedding")
FINAL = ("pointwise", "qlm", "combined")


@dataclass(frozen=True)
class CascadeConfig:
    first: Literal["pointwise", "embedding"] = "pointwise"
    first_judge: str = "brief"
    first_words: int = 10
    top: int = 10
    final: Literal["pointwise", "qlm", "combined"] = "qlm"
    fusion_weight: float = 0.5

    def __post_init__(self) -> None:
        between("cascade", "fusion_weight", self.fusion_weight, 0.0, 1.0)
        between("cascade", "first_words", self.first_words, 1, 100_000)
        between("cascade", "top", self.top, 1, 100_000)
        choice("cascade", "final", self.final, FINAL)
        choice("cascade", "first", self.first, FIRST)
        try:
            load_prompt(f"judge_{self.first_judge}")
        except PromptError as exc:
            raise ConfigError(f"cascade option first_judge={self.first_judge!r}: {exc}") from exc

    @property
    def reads_prompt_logprobs(self) -> bool:
        return self.final != "pointwise"


class CascadeReranker:
    """Cheap judge over all candidates, then the full judge over the top few."""

    name = "cascade"

    def __init__(self, client: ChatClient, config: CascadeConfig | None = None) -> None:
        self.client = client
        self.config = config or CascadeConfig()
        cfg = self.config
        self._first: Reranker = (
            EmbeddingReranker()
            if cfg.first == "embedding"
            else PointwiseReranker(
                client,
                PointwiseConfig(
                    judge=cfg.first_judge,
                    max_words=cfg.first_words,
                    fusion_weight=cfg.fusion_weight,
                ),
            )
        )
        finals: dict[str, Reranker] = {
            "pointwise": PointwiseReranker(
                client, PointwiseConfig(fusion_weight=cfg.fusion_weight)
            ),
            "qlm": QLMReranker(client),
            "combined": CombinedReranker(client),
        }
        self._final = finals[cfg.final]

    async def rerank(
        self,
        query: str,
        passages: Sequence[Passage],
        *,
        top_k: int | None = None,
        budget: Budget | None = None,
    ) -> RerankResult:
        cfg = self.config
        first = await self._first.rerank(query, passages, budget=budget)
        head = first.order[: cfg.top]
        # stage 2 sees the original passages (first-stage scores) in stage-1 order,
        # with what is left of the budget
        rest = _remaining(budget, first)
        if first.budget_exhausted or (rest is not None and rest.max_calls == 0):
            final = await IdentityReranker().rerank(query, [passages[i] for i in head])
        else:
            final = await self._final.rerank(query, [passages[i] for i in head], budget=rest)
        order = [head[j] for j in final.order] + first.order[cfg.top :]
        ranked = [*final.passages, *first.passages[cfg.top :]]
        note = step("rerank", method=self.name, stage1=len(passages), stage2=len(head))
        relevance = {**(first.relevance or {}), **(final.relevance or {})}
        return RerankResult(
            query=query,
            method=self.name,
            passages=ranked,
            order=order,
            events=[*_stage(first, 1), *_stage(final, 2), note],
            usage=first.usage + final.usage,
            repairs=first.repairs + final.repairs,
            failures=first.failures + final.failures,
            budget_exhausted=first.budget_exhausted or final.budget_exhausted,
            relevance=relevance,
            judge=final.judge,
        )


def _stage(result: RerankResult, stage: int) -> list[TraceEvent]:
    """A stage's events, named as this method's, with the stage in `data`."""
    return [
        e.model_copy(update={"method": CascadeReranker.name, "data": {**e.data, "stage": stage}})
        for e in result.events
    ]


def _remaining(budget: Budget | None, spent: RerankResult) -> Budget | None:
    if budget is None:
        return None
    calls = budget.max_calls
    tokens = budget.max_prompt_tokens
    return Budget(
        max_calls=None if calls is None else max(calls - spent.usage.calls, 0),
        max_prompt_tokens=None if tokens is None else max(tokens - spent.usage.prompt_tokens, 0),
    )
