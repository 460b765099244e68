"""Data that crosses the library's boundary: passages in and out of retrieval and reranking."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Passage(BaseModel):
    """A retrievable unit of text (a document or a chunk of one)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    text: str
    score: float | None = None
    title: str | None = None
    source: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    ranks: dict[str, int] = Field(
        default_factory=dict,
        description="Its 1-based rank in each first-stage list that found it ('dense', 'bm25').",
    )

    def with_score(self, score: float | None) -> Passage:
        return self.model_copy(update={"score": score})
