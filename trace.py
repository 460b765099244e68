"""What every step records: one `TraceEvent` per LLM call or pipeline step.

A run's trace is a list of events; it serialises to JSON/JSONL and reads as a story:
which node called the model with what prompt, what came back, how it was parsed and
repaired, what it cost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field


class Usage(BaseModel):
    """Cost of one or more LLM calls; adds up with `+`."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_calls: int = 0
    retries: int = 0
    latency_ms: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            calls=self.calls + other.calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_calls=self.cached_calls + other.cached_calls,
            retries=self.retries + other.retries,
            latency_ms=self.latency_ms + other.latency_ms,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class TraceEvent(BaseModel):
    """One LLM call (`kind="llm"`) or one non-LLM step (`kind="step"`) of a run."""

    node: str
    method: str | None = None
    kind: Literal["llm", "step"] = "llm"
    messages: list[dict[str, Any]] | None = None
    request: dict[str, Any] = Field(default_factory=dict)
    reply: str | None = None
    reasoning: str | None = None
    parsed: Any = None
    repairs: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    latency_ms: float = 0.0
    attempt: int = 1
    cached: bool = False
    error: str | None = None
    started_at: float = Field(default_factory=time.time)
    data: dict[str, Any] = Field(default_factory=dict)

    def with_outcome(
        self, *, parsed: Any = None, repairs: Iterable[str] = (), **data: Any
    ) -> TraceEvent:
        """The same event with what the caller made of the reply."""
        return self.model_copy(
            update={
                "parsed": parsed,
                "repairs": [*self.repairs, *repairs],
                "data": {**self.data, **data},
            }
        )


def step(
    node: str, *, method: str | None = None, latency_ms: float = 0.0, **data: Any
) -> TraceEvent:
    """A non-LLM event (retrieval, fusion, a routing decision)."""
    return TraceEvent(node=node, method=method, kind="step", latency_ms=latency_ms, data=data)


def total_usage(events: Iterable[TraceEvent]) -> Usage:
    total = Usage()
    for event in events:
        total = total + event.usage
    return total


def usage_by_node(events: Iterable[TraceEvent]) -> dict[str, Usage]:
    """Per-node cost, in the order nodes first appear."""
    out: dict[str, Usage] = {}
    for event in events:
        out[event.node] = out.get(event.node, Usage()) + event.usage
    return out


def write_jsonl(events: Iterable[TraceEvent], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for event in events:
            fh.write(event.model_dump_json() + "\n")


def read_jsonl(path: Path) -> list[TraceEvent]:
    with path.open(encoding="utf-8") as fh:
        return [TraceEvent.model_validate(json.loads(line)) for line in fh if line.strip()]
