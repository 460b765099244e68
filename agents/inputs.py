"""The user's question at the door: rejected when empty, cut to a budget when huge.

A truncation is not an error — the run goes on — but it is recorded as a
warning event so the trace shows the model never saw the whole question.
"""

from __future__ import annotations

from rankgraph.errors import InputError
from rankgraph.trace import TraceEvent, step


def prepare_question(question: str, max_chars: int) -> tuple[str, list[TraceEvent]]:
    """(question to use, warning events).

    >>> prepare_question("  who?  ", 100)
    ('who?', [])
    """
    if not isinstance(question, str) or not question.strip():
        raise InputError("the question is empty: ask something, e.g. `rankgraph ask 'what is X?'`")
    text = " ".join(question.split())
    if len(text) <= max_chars:
        return text, []
    cut = text[:max_chars].rsplit(" ", 1)[0] or text[:max_chars]
    warning = step(
        "input",
        method="truncate",
        warning=f"question truncated from {len(text)} to {len(cut)} characters "
        f"(pipeline.max_question_chars={max_chars})",
        original_chars=len(text),
        kept_chars=len(cut),
    )
    return cut, [warning]
