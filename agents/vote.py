"""A self-consistency vote among the reader's answers (minimum-Bayes-risk choice).

A small reader's greedy answer is one draw from a spread of answers: asked again
at a temperature it names the right entity in some drafts and a neighbour in
others. The answer the drafts agree with most is more often right than the greedy
one (Wang et al., "Self-Consistency"; MBR decoding). Agreement is SQuAD's token F1
between two answers (the eval's own `token_f1`), citations left out, so "Peking
[1]" and "Beijing was known as Peking [2]" agree in part. An abstention agrees only
with another abstention, and when most drafts abstain the vote abstains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rankgraph.eval.qa_scoring import strip_citations, token_f1


@dataclass(frozen=True)
class Vote:
    chosen: int | None  # index of the winning answer; None: the vote abstains
    agreement: list[float]  # each answer's mean agreement with the others


def agreement(a: str | None, b: str | None) -> float:
    """Token F1 between two answers' words; abstentions (None) agree only with each other.

    >>> round(agreement("Peking [1].", "Beijing was known as Peking [2]."), 2)
    0.33
    >>> agreement(None, None), agreement("Lima [1].", None)
    (1.0, 0.0)
    """
    if a is None or b is None:
        return float(a is b)
    return token_f1(a, [strip_citations(b)])


def vote(answers: Sequence[str | None]) -> Vote:
    """The answer the others agree with most (ties: the earlier one, so the greedy
    answer first); abstain when more than half of the answers are abstentions.

    >>> vote(["Moscow [1].", "Tbilisi [1].", "The capital is Tbilisi [2].", None]).chosen
    1
    >>> vote([None, "Lima [1].", None]).chosen is None
    True
    """
    if not answers:
        raise ValueError("vote needs at least one answer")
    n = len(answers)
    scores = [
        sum(agreement(a, b) for j, b in enumerate(answers) if j != i) / max(1, n - 1)
        for i, a in enumerate(answers)
    ]
    answered = [i for i, a in enumerate(answers) if a is not None]
    if not answered or 2 * (n - len(answered)) > n:
        return Vote(None, scores)
    return Vote(max(answered, key=lambda i: (scores[i], -i)), scores)
