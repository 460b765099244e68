"""What a call to the LLM hands back: the reply, its token logprobs and its cost.

Plain frozen dataclasses shared by the client, the protocol every caller is
typed to, and test fakes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rankgraph.llm.labels import answer_token, label_logprobs, softmax, unseen
from rankgraph.trace import TraceEvent, Usage

Messages = list[dict[str, Any]]
OnDelta = Callable[[str], Awaitable[None] | None]


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: dict[str, float]


@dataclass(frozen=True)
class Completion:
    """One reply, with everything a trace needs."""

    text: str
    reasoning: str | None
    finish_reason: str | None
    usage: Usage
    model: str
    base_url: str
    messages: Messages
    request: dict[str, Any]
    logprobs: tuple[TokenLogprob, ...] = ()
    texts: tuple[str, ...] = ()
    cached: bool = False

    def event(self, node: str, method: str | None = None) -> TraceEvent:
        """This call as a trace event; the caller adds what it parsed with `with_outcome`."""
        return TraceEvent(
            node=node,
            method=method,
            messages=self.messages,
            request=self.request,
            reply=self.text,
            reasoning=self.reasoning,
            usage=self.usage,
            latency_ms=self.usage.latency_ms,
            attempt=self.usage.retries + 1,
            cached=self.cached,
            data={"finish_reason": self.finish_reason, "base_url": self.base_url},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "reasoning": self.reasoning,
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "logprobs": [[t.token, t.logprob, t.top] for t in self.logprobs],
            "texts": list(self.texts),
        }


@dataclass(frozen=True)
class LabelLogprobs:
    """Log-probabilities of a fixed label set (e.g. "Yes"/"No", "A".."T") at the answer token."""

    logprobs: dict[str, float]  # -inf where the label was not among the top tokens
    completion: Completion

    @classmethod
    def read(cls, completion: Completion, labels: Sequence[str]) -> LabelLogprobs:
        """Read `labels` from the first token that carries text (case-folded, pooled)."""
        token = answer_token(completion.logprobs)
        top = token.top if token is not None else {}
        return cls(label_logprobs(top, labels, casefold=True), completion)

    def probabilities(self) -> dict[str, float]:
        """Softmax over the labels alone; uniform when none was seen."""
        return softmax(self.logprobs)

    @property
    def seen(self) -> int:
        return len(self.logprobs) - len(unseen(self.logprobs))


async def emit_delta(on_delta: OnDelta, text: str) -> None:
    """Hand `text` to a sync or async delta callback."""
    result = on_delta(text)
    if isinstance(result, Awaitable):
        await result
