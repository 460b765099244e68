"""Query likelihood (UPR): score a passage by how likely the query is after it.

One call per candidate: the passage, the instruction "Please write a question
based on this passage.", and the query as the start of the model's reply; the
score is the mean log-probability of the query's tokens, read from the engine's
prompt logprobs (`ChatClient.continuation_logprobs`, one generated token). No
label tokens are assumed, so it works with any decoder model (Sachan et al.
2022, UPR; llm-rankers' QLM). Fused with the first-stage score like pointwise
(zscore; the LLM's share 0.7, fitted on DL19 dev queries).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from rankgraph.llm.completion import Messages
from rankgraph.llm.protocol import ChatClient
from rankgraph.prompts import load_prompt
from rankgraph.prompts.passages import fenced
from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.rerank.fusion import FusionMode
from rankgraph.rerank.options import between, fusion_options
from rankgraph.rerank.run import QueryRun, order_by_scores
from rankgraph.schema import Passage

PROMPT = "qlm"


@dataclass(frozen=True)
class QLMConfig:
    max_words: int = 120
    fusion: FusionMode = "zscore"
    fusion_weight: float = 0.7  # fitted on DL19 queries 1–22 (bench/fit_combined.py --qlm)

    def __post_init__(self) -> None:
        between("qlm", "max_words", self.max_words, 1, 100_000)
        fusion_options("qlm", self.fusion, self.fusion_weight)

    @property
    def reads_prompt_logprobs(self) -> bool:
        return True


def qlm_messages(passage: Passage, max_words: int) -> Messages:
    """The prompt the query is scored after (the query itself is the reply)."""
    return load_prompt(PROMPT).render(passage=fenced(passage, "1", max_words))


class QLMReranker:
    """Mean log P(query | passage) per candidate; sort; fuse with the first stage."""

    name = "qlm"

    def __init__(self, client: ChatClient, config: QLMConfig | None = None) -> None:
        self.client = client
        self.config = config or QLMConfig()

    async def rerank(
        self,
        query: str,
        passages: Sequence[Passage],
        *,
        top_k: int | None = None,
        budget: Budget | None = None,
    ) -> RerankResult:
        run = QueryRun(self.client, self.name, budget)
        scores = list(await asyncio.gather(*(self.score(run, query, p) for p in passages)))
        relevance = {p.id: s for p, s in zip(passages, scores, strict=True) if s is not None}
        if run.failures or run.exhausted or any(s is None for s in scores) or len(scores) < 2:
            return run.result(query, passages, order_by_scores(scores)).model_copy(
                update={"relevance": relevance, "judge": PROMPT}
            )
        judged = [s for s in scores if s is not None]
        result = run.result(
            query,
            passages,
            order_by_scores(judged),
            judged,
            fusion=self.config.fusion,
            fusion_weight=self.config.fusion_weight,
        )
        return result.model_copy(update={"relevance": relevance, "judge": PROMPT})

    async def score(self, run: QueryRun, query: str, passage: Passage) -> float | None:
        """One candidate's score (one call), recorded in `run`; None when the call failed."""
        messages = qlm_messages(passage, self.config.max_words)
        scored = await run.continuation_logprobs(messages, query)
        if scored is None:
            return None
        score = scored.mean
        run.record(
            scored.completion,
            parsed=round(score, 6),
            passage_id=passage.id,
            query_tokens=len(scored.tokens),
        )
        return score
