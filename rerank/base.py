"""The one interface every reranking method implements, and its result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

from rankgraph.schema import Passage
from rankgraph.trace import TraceEvent, Usage


@dataclass(frozen=True)
class Budget:
    """Per-query cap on LLM work; when reached the method stops and returns its best order."""

    max_calls: int | None = None
    max_prompt_tokens: int | None = None


class RerankResult(BaseModel):
    """A reranked list: every input passage exactly once, best first."""

    query: str
    method: str
    passages: list[Passage]  # new order; Passage.score is the method's score where defined
    order: list[int]  # order[i] = index in the input of the passage now at rank i
    events: list[TraceEvent] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    repairs: int = 0  # parse repairs across all calls (never silent)
    failures: int = 0  # calls that failed after retries; their window kept its prior order
    budget_exhausted: bool = False
    # A judge's calibrated relevance per passage id (before any fusion), and the
    # judge prompt that produced it; None for methods that only order.
    relevance: dict[str, float] | None = None
    judge: str | None = None

    def first_error(self) -> str:
        """The first failed call's error from the result's trace, or '' when none failed."""
        return next((e.error for e in self.events if e.error), "") or ""


@runtime_checkable
class Reranker(Protocol):
    name: str

    async def rerank(
        self,
        query: str,
        passages: Sequence[Passage],
        *,
        top_k: int | None = None,
        budget: Budget | None = None,
    ) -> RerankResult: ...
