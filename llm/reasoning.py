"""Separate a model's reasoning from its answer.

vLLM's reasoning parsers put the thought in `reasoning_content` (or `reasoning`);
other models write `<think>…</think>` inline. An unclosed `<think>` (the token cap
hit mid-thought) leaves no answer: all of it is reasoning.
"""

from __future__ import annotations

import re

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


def split_reasoning(text: str) -> tuple[str, str | None]:
    """Return (answer, reasoning) from text that may hold `<think>` blocks.

    >>> split_reasoning("<think>A is about fleas</think>[1] > [2]")
    ('[1] > [2]', 'A is about fleas')
    >>> split_reasoning("<think>still thinking")
    ('', 'still thinking')
    >>> split_reasoning("[2] > [1]")
    ('[2] > [1]', None)
    """
    thoughts = [m.strip() for m in _THINK.findall(text)]
    answer = _THINK.sub("", text)
    if "<think>" in answer:
        answer, _, tail = answer.partition("<think>")
        thoughts.append(tail.strip())
    if not thoughts:
        return text.strip(), None
    return answer.strip(), "\n\n".join(t for t in thoughts if t) or None
