"""The graph state: what each node reads and the keys it may return.

Per-turn keys are reset by the pipeline's input on every question; `history`
and `trace` accumulate with `operator.add` (history across turns of a thread,
trace within and across turns; the pipeline slices one run's events from the
update stream).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Annotated, Any, TypedDict

from rankgraph.agents.answer import Citation
from rankgraph.schema import Passage
from rankgraph.trace import TraceEvent


def judge_key(prompt: str, query: str) -> str:
    """Where a judge's scores for one query live in `judged`: a passage is judged
    at most once per (prompt, query), whichever node asked first."""
    return f"{prompt}\n{query}"


def reader_question(state: RAGState) -> str:
    """The question the reader answers: the user's own words, and for a chat
    follow-up its standalone rewrite beside them, to say what "he" or "it" means.

    Why: a rewrite made for search (every question, sub-questions, HyDE, a corrective
    round's "different search") drifts from what was asked; on wiki-nq's dev half the
    0.5B reader given such rewrites abstained twice as often with the answer in its
    passages. A follow-up needs its rewrite, but the 0.5B rewriter now and then
    copies an earlier question or adds a guessed answer: on 60 dev follow-ups the
    reader answered 0.40 given the rewrite alone and 0.50 given both, with F1 0.156
    and 0.202 (docs/benchmarks.md, sessions 6 and 19).

    >>> reader_question({"question": "who?", "standalone": "who is X?"})
    'who?'
    >>> reader_question({"question": "and he?", "standalone": "Who is X?",
    ...                  "history": [{"role": "user", "content": "X?"}]})
    'and he? (that is: Who is X?)'
    >>> reader_question({"question": "Who is Y?", "standalone": "who is  Y?",
    ...                  "history": [{"role": "user", "content": "X?"}]})
    'Who is Y?'
    """
    question = state["question"]
    standalone = state.get("standalone", "")
    if not state.get("history") or query_key(standalone) == query_key(question) or not standalone:
        return question
    return f"{question} (that is: {standalone})"


def query_key(text: str) -> str:
    """What makes two queries the same: their words, case aside.

    >>> query_key("  Who is  X?") == query_key("who is x?")
    True
    """
    return " ".join(text.split()).casefold()


class Turn(TypedDict):
    role: str  # "user" | "assistant"
    content: str


class RAGState(TypedDict, total=False):
    question: str  # as asked (truncated to the budget)
    history: Annotated[list[Turn], operator.add]
    standalone: str  # the question rewritten to stand alone
    queries: list[str]  # what retrieval searches for; the question is always one
    feedback: str | None  # why the last round failed, for the corrective rewrite
    rounds: int  # retrieval rounds done this turn
    candidates: list[Passage]  # retrieved (and carried over) passages
    reranked: list[Passage]  # top-k after reranking
    scores: list[float]  # judge scores aligned with `reranked`
    judged: dict[str, dict[str, float]]  # judge_key(prompt, query) -> passage id -> P(Yes)
    kept: list[Passage]  # what generate may cite, best first
    passed: int  # how many passed the filter on merit (padding excluded)
    notes: list[str]  # Chain-of-Note notes aligned with `kept`
    answer: str
    citations: list[Citation]
    abstained: bool
    abstain_reason: str | None
    trace: Annotated[list[TraceEvent], operator.add]


def turn_input(
    question: str, events: list[TraceEvent], history: Sequence[Turn] = ()
) -> dict[str, Any]:
    """The input of one turn: every per-turn key reset; history is left to the checkpoint
    unless the caller brings its own (a stateless chat API sends the conversation)."""
    extra: dict[str, Any] = {"history": list(history)} if history else {}
    return {
        **extra,
        "question": question,
        "standalone": question,
        "queries": [],
        "feedback": None,
        "rounds": 0,
        "candidates": [],
        "reranked": [],
        "scores": [],
        "judged": {},
        "kept": [],
        "passed": 0,
        "notes": [],
        "answer": "",
        "citations": [],
        "abstained": False,
        "abstain_reason": None,
        "trace": events,
    }
