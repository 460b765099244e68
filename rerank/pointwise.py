"""Pointwise relevance: one call per candidate, score read from the label logprobs.

`yesno` scores P(Yes) normalised over Yes/No; `graded` the expected grade over
0–3, divided by 3. All candidates are scored concurrently (the client bounds
the concurrency). The prompt layout is an option: instructions + query first
lets the engine share a cached prefix across candidates, but ENGINE.md found
"passage then query" ranks better with Qwen-0.5B. With `reasoning=True` the
model thinks first (capped), then answers; the reasoning stays in the trace.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rankgraph.llm.client import Completion, LLMClient
from rankgraph.prompts import load_prompt
from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.rerank.format import fenced
from rankgraph.rerank.fusion import FusionMode
from rankgraph.rerank.labels import (
    TOP_LOGPROBS,
    answer_token,
    label_logprobs,
    softmax,
    unseen,
)
from rankgraph.rerank.options import between, choice, fusion_options
from rankgraph.rerank.run import QueryRun, order_by_scores
from rankgraph.schema import Passage

LABELS = {"yesno": ("Yes", "No"), "graded": ("0", "1", "2", "3")}
_WORD = re.compile(r"\b(yes|no|[0-3])\b", re.IGNORECASE)


@dataclass(frozen=True)
class PointwiseConfig:
    variant: Literal["yesno", "graded"] = "yesno"
    layout: Literal["query_first", "passage_first"] = "passage_first"
    reasoning: bool = False
    max_thinking_tokens: int = 256
    max_words: int = 120
    fusion: FusionMode = "zscore"
    fusion_weight: float = 0.5

    def __post_init__(self) -> None:
        choice("pointwise", "variant", self.variant, LABELS)
        choice("pointwise", "layout", self.layout, ("query_first", "passage_first"))
        fusion_options("pointwise", self.fusion, self.fusion_weight)
        between("pointwise", "max_thinking_tokens", self.max_thinking_tokens, 1, 32768)

    @property
    def prompt(self) -> str:
        layout = "reasoning" if self.reasoning else self.layout
        return f"rerank_pointwise_{self.variant}_{layout}"


def score_from(probabilities: dict[str, float], variant: str) -> float:
    """P(Yes), or the expected grade / 3.

    >>> score_from({"0": 0.5, "1": 0.0, "2": 0.0, "3": 0.5}, "graded")
    0.5
    """
    if variant == "yesno":
        return probabilities["Yes"]
    return sum(int(label) * p for label, p in probabilities.items()) / 3


def label_from_text(text: str, variant: str) -> str | None:
    """The first answer word in a reply ("**Yes**, because…" → "Yes"), or None.

    >>> label_from_text("Answer: no.", "yesno"), label_from_text("Grade 2", "graded")
    ('No', '2')
    """
    for match in _WORD.finditer(text):
        word = match.group(1)
        if variant == "yesno" and word.isalpha():
            return word.capitalize()
        if variant == "graded" and word.isdigit():
            return word
    return None


class PointwiseReranker:
    """Score each candidate on its own; sort; optionally fuse with the first stage."""

    name = "pointwise"

    def __init__(self, client: LLMClient, config: PointwiseConfig | None = None) -> None:
        self.client = client
        self.config = config or PointwiseConfig()

    async def rerank(
        self,
        query: str,
        passages: Sequence[Passage],
        *,
        top_k: int | None = None,
        budget: Budget | None = None,
    ) -> RerankResult:
        run = QueryRun(self.client, self.name, budget)
        scores = await asyncio.gather(*(self._score(run, query, p) for p in passages))
        order = order_by_scores(scores)
        filled = [s if s is not None else 0.0 for s in scores]
        if any(s is None for s in scores):  # unscored passages: no fusion over made-up scores
            return run.result(query, passages, order)
        return run.result(
            query,
            passages,
            order,
            filled,
            fusion=self.config.fusion,
            fusion_weight=self.config.fusion_weight,
        )

    async def _score(self, run: QueryRun, query: str, passage: Passage) -> float | None:
        cfg = self.config
        messages = load_prompt(cfg.prompt).render(
            query=query, passage=fenced(passage, "1", cfg.max_words)
        )
        labels = LABELS[cfg.variant]
        completion: Completion | None
        if cfg.reasoning:
            completion = await run.think_then_answer(
                messages,
                max_thinking_tokens=cfg.max_thinking_tokens,
                max_answer_tokens=4,
                top_logprobs=TOP_LOGPROBS,
            )
        else:
            completion = await run.complete(messages, max_tokens=1, top_logprobs=TOP_LOGPROBS)
        if completion is None:
            return None
        token = answer_token(completion.logprobs)
        top = token.top if token is not None else {}
        logprobs = label_logprobs(top, labels, casefold=True)
        repairs: list[str] = []
        if len(unseen(logprobs)) == len(labels):
            word = label_from_text(completion.text, cfg.variant)
            first = token.token if token is not None else ""
            if word is None:
                repairs.append(f"no label in first token {first!r} or reply; scored as uniform")
                probabilities = softmax(logprobs)
            else:
                repairs.append(f"no label in first token {first!r}; read {word!r} from the reply")
                probabilities = {label: float(label == word) for label in labels}
        else:
            probabilities = softmax(logprobs)
        score = score_from(probabilities, cfg.variant)
        run.record(
            completion,
            parsed=round(score, 6),
            repairs=repairs,
            passage_id=passage.id,
            label_logprobs={k: v for k, v in logprobs.items() if v > float("-inf")},
        )
        return score
