"""Scoring one answer against gold aliases, and a variant's answers as a whole. Pure.

- exact match, token F1 (SQuAD normalisation: lowercase, no punctuation, no
  articles) and "contains" (a gold alias appears as whole tokens in the
  answer), citation markers stripped; an abstention scores 0;
- answer-document recall after retrieve, rerank and filter: a hit when a
  passage's `doc_id` metadata is one of the question's `answer_doc_ids`;
- citation precision (share of cited passages that contain a gold alias) and
  citation recall (of correct answers whose kept passages hold the answer, the
  share citing at least one passage that holds it);
- abstention, separately on answerable and on unanswerable questions, and on
  answerable ones split by whether the passages the generator read hold a gold
  alias: abstaining without the answer in front of it is the reader doing its job,
  abstaining with it is a miss (the overall figure mixes the two);
- LLM calls, tokens and wall time per question;
- against the first variant of a run: questions answered better and worse, and
  paired p-values, because at a few hundred questions a gap of 0.02 is noise.
"""

from __future__ import annotations

import re
import statistics
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rankgraph.schema import Passage

_CITATION = re.compile(r"\[\d+(?:\s*[,;]\s*\d+)*\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


class ChatTurn(BaseModel):
    """An earlier turn of the conversation a follow-up question belongs to."""

    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


class QA(BaseModel):
    """One question of a QA set (the wiki-nq shape); `history`, when given, makes it
    a chat follow-up asked after those turns."""

    model_config = ConfigDict(extra="ignore")

    qid: str
    question: str = Field(min_length=1)
    answers: list[str] = Field(min_length=1)
    answer_doc_ids: list[str] = Field(default_factory=list)
    history: list[ChatTurn] = Field(default_factory=list)


def normalize(text: str) -> str:
    """SQuAD normalisation.

    >>> normalize("The  Beatles!")
    'beatles'
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if c in string.punctuation else c for c in text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def strip_citations(text: str) -> str:
    return _CITATION.sub(" ", text)


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    pred = normalize(strip_citations(prediction))
    return float(any(pred == normalize(g) for g in golds))


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """Best SQuAD token F1 over the gold aliases.

    >>> round(token_f1("Paris is the capital [1]", ["Paris"]), 2)
    0.5
    """
    pred = normalize(strip_citations(prediction)).split()
    best = 0.0
    for gold in golds:
        ref = normalize(gold).split()
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            precision, recall = common / len(pred), common / len(ref)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains_answer(text: str, golds: Sequence[str]) -> bool:
    """A gold alias as a whole-token run inside `text` (both normalised)."""
    hay = f" {normalize(strip_citations(text))} "
    return any(f" {n} " in hay for g in golds if (n := normalize(g)))


def passage_holds(passage: Passage, golds: Sequence[str]) -> bool:
    return contains_answer(f"{passage.title or ''} . {passage.text}", golds)


def doc_ids(passages: Sequence[Passage]) -> list[str]:
    return [str(p.metadata.get("doc_id", p.id)) for p in passages]


class Stages(BaseModel):
    """The queries searched and the document ids each stage handed on, best first."""

    queries: list[str] = Field(default_factory=list)
    retrieved: list[str] = Field(default_factory=list)
    reranked: list[str] = Field(default_factory=list)
    kept: list[str] = Field(default_factory=list)


class QuestionResult(BaseModel):
    """One question under one variant: what came out and what it cost (a JSONL row)."""

    variant: str
    qid: str
    question: str
    gold: list[str]
    answerable: bool
    answer: str = ""
    abstained: bool = False
    abstain_reason: str | None = None
    draft: str | None = None  # the generator's own reply, where the citation check changed it
    draft_contains: float = 0.0  # that draft held a gold alias
    citations: list[str] = Field(default_factory=list)  # cited passage ids
    quoted: bool = False  # a passage quoted in place of a reply that restated the question
    cited_hold_answer: list[bool] = Field(default_factory=list)
    kept_hold_answer: bool = False
    stages: Stages = Field(default_factory=Stages)
    judged: dict[str, float] = Field(default_factory=dict)  # doc id -> best judge score
    answer_doc_ids: list[str] = Field(default_factory=list)
    contains: float = 0.0
    exact_match: float = 0.0
    f1: float = 0.0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    error: str | None = None


class Paired(BaseModel):
    """One variant against the run's first one on the same answerable questions:
    how many it answers better and worse (contains), and paired randomization p."""

    against: str
    better: int
    worse: int
    p_contains: float
    p_f1: float


class VariantSummary(BaseModel):
    """A variant's scores over the same questions as every other variant."""

    variant: str
    answerable: int
    unanswerable: int
    failures: int
    contains: float
    exact_match: float
    f1: float
    citation_precision: float | None
    citation_recall: float | None
    abstain_answerable: float
    abstain_unanswerable: float | None
    answer_in_passages: float  # answerable questions whose kept passages hold a gold alias
    abstain_held: float | None  # abstained although the kept passages hold the answer
    abstain_missing: float | None  # abstained, the kept passages do not hold it
    abstain_right_draft: float  # abstained although the draft held the answer (the check's cost)
    recall: dict[str, float]
    paired: Paired | None = None  # against the first variant of the run
    calls_per_question: float
    prompt_tokens_per_question: float
    completion_tokens_per_question: float
    wall_s_per_question: float
    wall_s: float


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def stage_hit(ids: Sequence[str], gold: Sequence[str], k: int | None = None) -> bool:
    return any(d in gold for d in (ids[:k] if k is not None else ids))


def summarize(
    variant: str, rows: Sequence[QuestionResult], top_k: int, wall_s: float
) -> VariantSummary:
    """Aggregate one variant's rows; failed questions count as failures, not as answers."""
    ok = [r for r in rows if r.error is None]
    answerable = [r for r in ok if r.answerable]
    unanswerable = [r for r in ok if not r.answerable]
    held = [float(r.abstained) for r in answerable if r.kept_hold_answer]
    missing = [float(r.abstained) for r in answerable if not r.kept_hold_answer]
    precision = [_mean([float(h) for h in r.cited_hold_answer]) for r in answerable if r.citations]
    recall_pool = [r for r in answerable if r.contains and r.kept_hold_answer]
    citation_recall = [float(any(r.cited_hold_answer)) for r in recall_pool]

    def found(stage: Callable[[Stages], list[str]], k: int | None = None) -> float:
        return _mean([stage_hit(stage(r.stages), r.answer_doc_ids, k) for r in answerable])

    # @1: the passage the reader is shown first, which a small reader answers from
    # (docs/benchmarks.md, session 8); @top_k: all it is shown
    cuts = dict.fromkeys((1, top_k))
    recall = {
        "retrieve@k": found(lambda s: s.retrieved),
        **{f"retrieve@{k}": found(lambda s: s.retrieved, k) for k in cuts},
        **{f"rerank@{k}": found(lambda s: s.reranked, k) for k in cuts},
        "kept": found(lambda s: s.kept),
    }
    return VariantSummary(
        variant=variant,
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        failures=len(rows) - len(ok),
        contains=_mean([r.contains for r in answerable]),
        exact_match=_mean([r.exact_match for r in answerable]),
        f1=_mean([r.f1 for r in answerable]),
        citation_precision=_mean(precision) if precision else None,
        citation_recall=_mean(citation_recall) if citation_recall else None,
        abstain_answerable=_mean([float(r.abstained) for r in answerable]),
        abstain_unanswerable=(
            _mean([float(r.abstained) for r in unanswerable]) if unanswerable else None
        ),
        answer_in_passages=_mean([float(r.kept_hold_answer) for r in answerable]),
        abstain_held=_mean(held) if held else None,
        abstain_missing=_mean(missing) if missing else None,
        abstain_right_draft=_mean([float(r.abstained and r.draft_contains) for r in answerable]),
        recall=recall,
        calls_per_question=_mean([r.calls for r in ok]),
        prompt_tokens_per_question=_mean([r.prompt_tokens for r in ok]),
        completion_tokens_per_question=_mean([r.completion_tokens for r in ok]),
        wall_s_per_question=_mean([r.wall_s for r in ok]),
        wall_s=wall_s,
    )
