"""Per-query bookkeeping shared by every method: budget, faults, trace, result.

One `QueryRun` per `rerank()` call. Every LLM call of a method goes through it,
so the rules hold for all methods alike:
- the budget is checked (and a call reserved) before a call starts; once it is
  reached, no further call starts and the run is marked exhausted in the trace;
- a call that fails after the client's retries (`LLMUnavailable`,
  `LLMResponseError`) returns None, counts as a failure and leaves an event with
  the error; the method then keeps that window's or pair's prior order;
- every parse repair is counted in the event and in the result.

The token budget is checked against tokens of calls already finished, so calls
in flight at the same time can overshoot it by at most their own prompts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from rankgraph.errors import LLMResponseError, LLMUnavailable
from rankgraph.llm.completion import Completion, ContinuationLogprobs, Messages
from rankgraph.llm.protocol import ChatClient
from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.rerank.fusion import FusionMode, first_stage_scores, fuse
from rankgraph.schema import Passage
from rankgraph.trace import TraceEvent, step, total_usage

R = TypeVar("R")


def _itself(completion: Completion) -> Completion:
    return completion


log = logging.getLogger(__name__)

NODE = "rerank"


class QueryRun:
    """Budget, events, repairs and failures of one query's reranking."""

    def __init__(self, client: ChatClient | None, method: str, budget: Budget | None) -> None:
        self.client = client
        self.method = method
        self.budget = budget or Budget()
        self.events: list[TraceEvent] = []
        self.repairs = 0
        self.failures = 0
        self.exhausted = False
        self._started = 0
        self._prompt_tokens = 0

    # -- calls ---------------------------------------------------------------------

    def _reserve(self) -> bool:
        over_calls = self.budget.max_calls is not None and self._started >= self.budget.max_calls
        over_tokens = (
            self.budget.max_prompt_tokens is not None
            and self._prompt_tokens >= self.budget.max_prompt_tokens
        )
        if over_calls or over_tokens:
            if not self.exhausted:
                self.exhausted = True
                log.info("%s: budget reached after %d calls", self.method, self._started)
                self.events.append(
                    step(
                        NODE,
                        method=self.method,
                        budget_exhausted=True,
                        calls_started=self._started,
                        prompt_tokens=self._prompt_tokens,
                        max_calls=self.budget.max_calls,
                        max_prompt_tokens=self.budget.max_prompt_tokens,
                    )
                )
            return False
        self._started += 1
        return True

    def _failed(self, messages: Messages, exc: Exception, **data: Any) -> None:
        self.failures += 1
        log.warning("%s: LLM call failed, keeping prior order: %s", self.method, exc)
        self.events.append(
            TraceEvent(
                node=NODE,
                method=self.method,
                messages=messages,
                error=f"{type(exc).__name__}: {exc}",
                data={**data, "fallback": "kept prior order"},
            )
        )

    def _client(self) -> ChatClient:
        """The client; only methods that make no LLM call run without one."""
        if self.client is None:
            raise AssertionError(f"{self.method} made an LLM call but was built without a client")
        return self.client

    async def _guarded(
        self,
        messages: Messages,
        call: Callable[[ChatClient], Awaitable[R]],
        completion_of: Callable[[R], Completion],
    ) -> R | None:
        """`call(client)` within the budget; None when it is spent or the call failed."""
        if not self._reserve():
            return None
        try:
            result = await call(self._client())
        except (LLMUnavailable, LLMResponseError) as exc:
            self._failed(messages, exc)
            return None
        self._prompt_tokens += completion_of(result).usage.prompt_tokens
        return result

    async def complete(self, messages: Messages, **kw: Any) -> Completion | None:
        """`client.complete`, or None when the budget is spent or the call failed."""
        return await self._guarded(messages, lambda c: c.complete(messages, **kw), _itself)

    async def think_then_answer(self, messages: Messages, **kw: Any) -> Completion | None:
        """`client.think_then_answer` (two engine calls, reserved as one), or None."""
        return await self._guarded(messages, lambda c: c.think_then_answer(messages, **kw), _itself)

    async def continuation_logprobs(
        self, messages: Messages, continuation: str, **kw: Any
    ) -> ContinuationLogprobs | None:
        """`client.continuation_logprobs` (one engine call), or None."""
        return await self._guarded(
            messages,
            lambda c: c.continuation_logprobs(messages, continuation, **kw),
            lambda scored: scored.completion,
        )

    def record(
        self, completion: Completion, *, parsed: Any, repairs: Iterable[str] = (), **data: Any
    ) -> None:
        """Keep the call's event with what was parsed and repaired."""
        fixes = list(repairs)
        self.repairs += len(fixes)
        self.events.append(
            completion.event(NODE, self.method).with_outcome(parsed=parsed, repairs=fixes, **data)
        )

    # -- the result ----------------------------------------------------------------

    def result(
        self,
        query: str,
        passages: Sequence[Passage],
        order: Sequence[int],
        scores: Sequence[float] | None = None,
        *,
        fusion: FusionMode = "none",
        fusion_weight: float = 1.0,
    ) -> RerankResult:
        """Assemble the result: the method's order, optionally fused with the first stage.

        `scores` (per input index) are the method's own; order-only methods pass
        None and fusion then uses minus the method's rank as its score.
        """
        n = len(passages)
        if sorted(order) != list(range(n)):
            raise AssertionError(f"{self.method} produced a non-permutation {list(order)} of {n}")
        final_order = list(order)
        final_scores: list[float] | None = list(scores) if scores is not None else None
        prior = first_stage_scores([p.score for p in passages])
        if fusion != "none" and n > 1 and prior is None:
            self.events.append(
                step(NODE, method=self.method, fusion="none", why="no first-stage scores")
            )
        elif fusion != "none" and n > 1 and prior is not None:
            own = final_scores or _rank_scores(order)
            fused = fuse(own, prior, fusion, fusion_weight)
            # ties fall back to the method's own order
            position = {i: r for r, i in enumerate(order)}
            final_order = sorted(range(n), key=lambda i: (-fused[i], position[i]))
            final_scores = fused
            self.events.append(
                step(
                    NODE,
                    method=self.method,
                    fusion=fusion,
                    fusion_weight=fusion_weight,
                    before=list(order),
                    after=final_order,
                )
            )
        ranked = [
            passages[i].with_score(final_scores[i] if final_scores is not None else None)
            for i in final_order
        ]
        return RerankResult(
            query=query,
            method=self.method,
            passages=ranked,
            order=final_order,
            events=self.events,
            usage=total_usage(self.events),
            repairs=self.repairs,
            failures=self.failures,
            budget_exhausted=self.exhausted,
        )


def _rank_scores(order: Sequence[int]) -> list[float]:
    scores = [0.0] * len(order)
    for rank, i in enumerate(order):
        scores[i] = -float(rank)
    return scores


def order_by_scores(scores: Sequence[float | None]) -> list[int]:
    """Indices by descending score; unscored items (budget, failure) keep their slots.

    The scored items are sorted among the positions they held, so a run cut
    short by its budget reranks the part it saw and leaves the rest as it was.

    >>> order_by_scores([0.1, None, 0.9])
    [2, 1, 0]
    """
    scored = [i for i, s in enumerate(scores) if s is not None]
    best_first = sorted(scored, key=lambda i: (-(scores[i] or 0.0), i))
    out = list(range(len(scores)))
    for slot, i in zip(scored, best_first, strict=True):
        out[slot] = i
    return out
