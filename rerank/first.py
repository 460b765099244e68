"""FIRST: rank a window from the logprobs of the first generated identifier.

Instead of decoding a permutation, one token is generated and the candidates
are sorted by the log-probability their letter had at that position (Reddy et
al.): one short call per window, and a graded signal even where a small model's
written permutation would be the identity. Identifiers are the letters A–T,
single tokens in the Qwen, Llama and SmolLM vocabularies; each reply's first
token is checked, and a first token that is not an identifier is a repair. A
window is at most 20 (vLLM's default cap on top_logprobs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rankgraph.llm.labels import TOP_LOGPROBS, label_key, label_logprobs, letters, unseen
from rankgraph.llm.protocol import ChatClient
from rankgraph.prompts import load_prompt
from rankgraph.prompts.passages import fenced_list
from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.rerank.fusion import FusionMode
from rankgraph.rerank.options import between, fusion_options
from rankgraph.rerank.run import QueryRun
from rankgraph.rerank.window_rank import rerank_sliding
from rankgraph.schema import Passage


@dataclass(frozen=True)
class FirstConfig:
    window: int = 20
    stride: int = 10
    max_words: int = 100
    fusion: FusionMode = "none"
    fusion_weight: float = 0.5

    def __post_init__(self) -> None:
        between("first", "window", self.window, 2, TOP_LOGPROBS)
        between("first", "stride", self.stride, 1, self.window)
        fusion_options("first", self.fusion, self.fusion_weight)


def order_from_logprobs(logprobs: Sequence[float]) -> list[int]:
    """Sort by logprob, best first; unseen (-inf) items keep their prior order at the end.

    >>> order_from_logprobs([-2.0, -math.inf, -0.5, -math.inf])
    [2, 0, 1, 3]
    """
    return sorted(range(len(logprobs)), key=lambda i: (-logprobs[i], i))


class FirstReranker:
    """Sliding windows, each ranked by one token's logprobs."""

    name = "first"

    def __init__(self, client: ChatClient, config: FirstConfig | None = None) -> None:
        self.client = client
        self.config = config or FirstConfig()
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
        n = len(passages)
        ids = letters(n)
        messages = load_prompt("rerank_first").render(
            query=query, n=n, passages=fenced_list(passages, ids, self.config.max_words)
        )
        completion = await run.complete(messages, max_tokens=1, top_logprobs=TOP_LOGPROBS)
        if completion is None:
            return None
        first = completion.logprobs[0]
        logprobs = label_logprobs(first.top, ids)
        missing = unseen(logprobs)
        repairs: list[str] = []
        if len(missing) == n:
            repairs.append(f"no id among the top tokens (first {first.token!r}); kept prior order")
        order = order_from_logprobs([logprobs[i] for i in ids])
        run.record(
            completion,
            parsed=[ids[i] for i in order],
            repairs=repairs,
            passage_ids=[p.id for p in passages],
            id_logprobs={k: round(v, 4) for k, v in logprobs.items() if v > -math.inf},
            first_token=first.token,
            first_token_is_id=label_key(first.token, casefold=False) in ids,
            unseen_ids=len(missing),
        )
        return order
