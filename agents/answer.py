"""What a run hands back: the cited answer, its stream events, and the error that
keeps a failed run's partial trace."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from rankgraph.errors import RankgraphError
from rankgraph.schema import Passage
from rankgraph.trace import TraceEvent, Usage, total_usage, usage_by_node


class Citation(BaseModel):
    """`[n]` in the answer text refers to `passage_id` (the n-th kept passage), a chunk
    of the document the user indexed as `doc_id` (a JSONL line's `id`), when it had one.

    `quoted`: the answer shows this passage's own words (`[n] reads: "…"`) because the
    model's reply only restated the question. A quote is the evidence nearest the
    question, not a stated answer; a client may show it as a quote.
    """

    n: int
    passage_id: str
    title: str | None = None
    source: str | None = None
    doc_id: str | None = None
    quoted: bool = False


class Answer(BaseModel):
    """One answered (or declined) question with everything needed to audit it."""

    question: str
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list)  # the kept passages, [1]..[n]
    abstained: bool = False
    abstain_reason: str | None = None
    queries: list[str] = Field(default_factory=list)
    rounds: int = 0
    thread_id: str | None = None
    wall_ms: float = 0.0
    node_ms: dict[str, float] = Field(default_factory=dict)  # wall time per node
    usage: dict[str, Usage] = Field(default_factory=dict)  # per node, plus "total"
    trace: list[TraceEvent] = Field(default_factory=list)


_QUIET_KEYS = {"trace", "history"}


def usage_report(events: list[TraceEvent]) -> dict[str, Usage]:
    """Usage per node in order of first appearance, then the total."""
    return {**usage_by_node(events), "total": total_usage(events)}


@dataclass(frozen=True)
class PipelineEvent:
    """One item of `Pipeline.events`: a node finished, a draft token, a checked piece
    of the answer (what the final text will say, a sentence at a time), a warning, or
    the answer."""

    type: Literal["node", "token", "checked", "warning", "answer"]
    node: str | None = None
    text: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # the node's update, passages as ids
    answer: Answer | None = None
    update: dict[str, Any] = field(default_factory=dict, repr=False)  # the raw node update


def summarize_update(update: dict[str, Any]) -> dict[str, Any]:
    """A stream-friendly view of a node's update: passages as ids, no trace or history."""
    out: dict[str, Any] = {}
    for key, value in update.items():
        if key in _QUIET_KEYS:
            continue
        if isinstance(value, list) and value and isinstance(value[0], Passage):
            out[key] = [p.id for p in value]
        elif isinstance(value, list) and value and isinstance(value[0], Citation):
            out[key] = [c.model_dump() for c in value]
        else:
            out[key] = value
    return out


def answer_from_state(
    final: dict[str, Any], trace: list[TraceEvent], thread_id: str | None, wall_ms: float
) -> Answer:
    return Answer(
        question=final.get("question", ""),
        answer=final.get("answer", ""),
        citations=final.get("citations", []),
        passages=final.get("kept", []),
        abstained=final.get("abstained", False),
        abstain_reason=final.get("abstain_reason"),
        queries=final.get("queries", []),
        rounds=final.get("rounds", 0),
        thread_id=thread_id,
        wall_ms=wall_ms,
        usage=usage_report(trace),
        trace=trace,
    )


class NodeFailed(RankgraphError):
    """A node of the graph raised; `.node` names it and `.trace` keeps what ran before."""

    def __init__(self, node: str, cause: BaseException, trace: list[TraceEvent]) -> None:
        super().__init__(f"pipeline node {node!r} failed: {cause}")
        self.node = node
        self.cause = cause
        self.trace = trace
