"""The one label reader: label probabilities from a generated token's top logprobs.

Every judge and ranker reads labels here, so the same logprobs always give the
same probabilities. It pools the surface forms small models produce for one
label (" Yes", "yes", "[A", "A]") with log-sum-exp and says which labels were
never seen, so the caller can count that as a repair instead of treating a
missing label as a confident zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rankgraph.llm.completion import TokenLogprob

TOP_LOGPROBS = 20  # vLLM's default cap (--max-logprobs); FIRST needs one per window slot
_STRIP = " \t\n▁Ġ[]()<>\"'*:.,>"


def label_key(token: str, *, casefold: bool) -> str:
    """The label a token stands for: " Yes" → "Yes", "[A" → "A", "**B" → "B".

    >>> label_key(" [C]", casefold=False), label_key("ĠYes", casefold=True)
    ('C', 'yes')
    """
    key = token.strip(_STRIP)
    return key.casefold() if casefold else key


def label_logprobs(
    top: Mapping[str, float], labels: Sequence[str], *, casefold: bool = False
) -> dict[str, float]:
    """Log-probability per label, pooling tokens that map to it (log-sum-exp); -inf if unseen.

    >>> lp = label_logprobs({"Yes": -0.1, " yes": -3.0, "No": -2.5}, ["Yes", "No"], casefold=True)
    >>> round(lp["Yes"], 3), lp["No"]
    (-0.046, -2.5)
    >>> label_logprobs({"The": -0.2}, ["A", "B"])
    {'A': -inf, 'B': -inf}
    """
    wanted = {label_key(label, casefold=casefold): label for label in labels}
    pooled: dict[str, list[float]] = {label: [] for label in labels}
    for token, logprob in top.items():
        label = wanted.get(label_key(token, casefold=casefold))
        if label is not None:
            pooled[label].append(logprob)
    return {label: logsumexp(values) for label, values in pooled.items()}


def softmax(logprobs: Mapping[str, float]) -> dict[str, float]:
    """Probabilities renormalised over the labels alone; uniform when none was seen.

    >>> softmax({"A": math.log(0.3), "B": math.log(0.1)})["A"]
    0.75
    >>> softmax({"A": -math.inf, "B": -math.inf})
    {'A': 0.5, 'B': 0.5}
    """
    finite = [v for v in logprobs.values() if v > -math.inf]
    if not finite:
        return {k: 1.0 / len(logprobs) for k in logprobs}
    top = max(finite)
    weights = {k: math.exp(v - top) if v > -math.inf else 0.0 for k, v in logprobs.items()}
    total = sum(weights.values())
    return {k: round(w / total, 12) for k, w in weights.items()}


def logsumexp(values: Sequence[float]) -> float:
    if not values:
        return -math.inf
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def unseen(logprobs: Mapping[str, float]) -> list[str]:
    """Labels absent from the top tokens (each one is a repair the caller records)."""
    return [k for k, v in logprobs.items() if v == -math.inf]


def letters(n: int) -> list[str]:
    """Single-letter identifiers A, B, … for n ≤ 26 (single tokens in common vocabularies).

    >>> letters(3)
    ['A', 'B', 'C']
    """
    if not 1 <= n <= 26:
        raise ValueError(f"letters() covers 1..26 items, got {n}")
    return [chr(ord("A") + i) for i in range(n)]


def answer_token(tokens: Sequence[TokenLogprob]) -> TokenLogprob | None:
    """The first generated token that is not blank or punctuation only.

    After a forced `</think>` the answer often starts with a newline; the label
    distribution worth reading is at the first token that carries text.
    """
    for token in tokens:
        if label_key(token.token, casefold=False):
            return token
    return tokens[0] if tokens else None
