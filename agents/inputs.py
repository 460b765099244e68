"""The user's question at the door: rejected when empty, cut to a budget when huge.

A truncation is not an error — the run goes on — but it is recorded as a
warning event so the trace shows the model never saw the whole question.
"""

from __future__ import annotations

from rankgraph.errors import InputError
from rankgraph.trace import TraceEvent, step


def prepare_question(question: str, max_chars: int) -> tuple[str, list[TraceEvent]]:
    """(question to use, warning events).

    The cut backs up to a word boundary only when one is near the limit: a question
    that ends in one huge token keeps `max_chars` of it, not just the words before it.

    >>> prepare_question("  who?  ", 100)
    ('who?', [])
    >>> prepare_question("who wrote it", 10)[0], len(prepare_question("who " + "x" * 99, 10)[0])
    ('who wrote', 10)
    """
    if not isinstance(question, str) or not question.strip():
        raise InputError("the question is empty: ask something, e.g. `rankgraph ask 'what is X?'`")
    text = " ".join(question.split())
    if len(text) <= max_chars:
        return text, []
    head = text[:max_chars]
    space = head.rfind(" ")
    cut = head[:space] if space >= 0.8 * max_chars else head
    warning = step(
        "input",
        method="truncate",
        warning=f"question truncated from {len(text)} to {len(cut)} characters "
        f"(pipeline.max_question_chars={max_chars})",
        original_chars=len(text),
        kept_chars=len(cut),
    )
    return cut, [warning]
