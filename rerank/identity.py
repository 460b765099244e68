"""The "none" method: keep the first-stage order. The honest baseline every method must beat."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rankgraph.llm.protocol import ChatClient
from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.rerank.run import QueryRun
from rankgraph.schema import Passage


@dataclass(frozen=True)
class IdentityConfig:
    """No options: the input order is the output."""


class IdentityReranker:
    """Returns the input order with no LLM call; scores are left as the first stage gave them."""

    name = "none"

    def __init__(self, client: ChatClient | None = None, config: IdentityConfig | None = None):
        self.client = client
        self.config = config or IdentityConfig()

    async def rerank(
        self,
        query: str,
        passages: Sequence[Passage],
        *,
        top_k: int | None = None,
        budget: Budget | None = None,
    ) -> RerankResult:
        run = QueryRun(self.client, self.name, budget)
        result = run.result(query, passages, list(range(len(passages))))
        return result.model_copy(update={"passages": list(passages)})
