"""What a call to the LLM hands back: the reply, its token logprobs and its cost.

Plain frozen dataclasses shared by the client, the protocol every caller is
typed to, and test fakes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rankgraph.errors import LLMResponseError
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
    # The prompt's own tokens with their log-probabilities (asked with `prompt_logprobs`;
    # the first prompt token has none and is left out). `top` stays empty.
    prompt_logprobs: tuple[TokenLogprob, ...] = ()

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
            "prompt_logprobs": [[t.token, t.logprob] for t in self.prompt_logprobs],
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


@dataclass(frozen=True)
class ContinuationLogprobs:
    """Log-probabilities of a given text as the start of the assistant's reply.

    Teacher-forced: the text is sent as the final assistant message and scored,
    token by token, from the engine's prompt logprobs (one call, one generated
    token). Query likelihood reads `mean`: log P(query | passage prompt) per token.
    """

    tokens: tuple[TokenLogprob, ...]
    completion: Completion

    @classmethod
    def read(cls, completion: Completion, continuation: str) -> ContinuationLogprobs:
        return cls(tail_tokens(completion.prompt_logprobs, continuation), completion)

    @property
    def total(self) -> float:
        return sum(t.logprob for t in self.tokens)

    @property
    def mean(self) -> float:
        return self.total / len(self.tokens)


def tail_tokens(prompt: Sequence[TokenLogprob], text: str) -> tuple[TokenLogprob, ...]:
    """The shortest run of trailing prompt tokens whose text ends with `text`.

    The continuation is the end of the prompt (no end-of-turn token follows it), so
    its tokens are found from the end without a tokenizer; a token that straddles the
    boundary (a space merged into the first word) is counted with the continuation.

    >>> toks = [TokenLogprob(t, -1.0, {}) for t in ["user", "\\n", "what", " is", " it"]]
    >>> [t.token for t in tail_tokens(toks, "what is it")]
    ['what', ' is', ' it']
    """
    want = text.strip()
    if not want:
        raise ValueError("an empty continuation has no tokens to score")
    joined = ""
    for start in range(len(prompt) - 1, -1, -1):
        joined = prompt[start].token + joined
        if len(joined.strip()) >= len(want):
            if joined.strip().endswith(want) or want.endswith(joined.strip()):
                return tuple(prompt[start:])
            break
    raise LLMResponseError(
        f"the prompt logprobs do not end with the continuation {want[:60]!r} "
        f"(their tail reads {joined[-80:]!r}); the engine must echo the final assistant "
        "message unchanged (vLLM: continue_final_message)"
    )
