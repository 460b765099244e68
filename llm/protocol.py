"""`ChatClient`: the LLM primitives every method and agent is written against.

Rerankers, agents and `Deps` are typed to this protocol, not to `LLMClient`, so
a test fake (or another transport) implements these methods and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from rankgraph.llm.completion import (
    Completion,
    ContinuationLogprobs,
    LabelLogprobs,
    Messages,
    OnDelta,
)

M = TypeVar("M", bound=BaseModel)


@runtime_checkable
class ChatClient(Protocol):
    async def model(self) -> str:
        """The served model's name (methods with per-model fitted defaults read it)."""
        ...

    async def complete(
        self,
        messages: Messages,
        *,
        max_tokens: int = ...,
        temperature: float = ...,
        top_logprobs: int = ...,
        stop: Sequence[str] | None = ...,
        json_schema: dict[str, Any] | None = ...,
        choices: Sequence[str] | None = ...,
        n: int = ...,
        extra_body: dict[str, Any] | None = ...,
        on_delta: OnDelta | None = ...,
    ) -> Completion:
        """One chat completion; `on_delta` streams the text as it is generated."""
        ...

    async def label_logprobs(
        self, messages: Messages, labels: Sequence[str], *, top_logprobs: int = ..., **kw: Any
    ) -> LabelLogprobs:
        """The labels' log-probabilities at the first answer token (one generated token)."""
        ...

    async def continuation_logprobs(
        self, messages: Messages, continuation: str, **kw: Any
    ) -> ContinuationLogprobs:
        """Log-probabilities of `continuation` as the start of the reply (teacher-forced)."""
        ...

    async def structured(
        self, messages: Messages, schema: type[M], *, max_tokens: int = ..., **kw: Any
    ) -> tuple[M, Completion]:
        """A reply constrained to `schema`'s JSON schema and validated into it."""
        ...

    async def think_then_answer(
        self,
        messages: Messages,
        *,
        max_thinking_tokens: int | None = ...,
        max_answer_tokens: int = ...,
        **kw: Any,
    ) -> Completion:
        """Reason (capped), then answer; the reasoning is kept on the Completion."""
        ...
