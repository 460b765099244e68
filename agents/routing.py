"""Routers: pure functions of stored facts (grading happened in the filter node)."""

from __future__ import annotations

from typing import Literal

from rankgraph.agents.state import RAGState


def after_filter(state: RAGState) -> Literal["rewrite", "answer"]:
    """Another corrective round when the filter left feedback, else answer.

    The filter writes feedback only while rounds remain, so the loop is bounded
    by `loop.max_rounds` and can never hit the recursion limit.
    """
    return "rewrite" if state.get("feedback") else "answer"
