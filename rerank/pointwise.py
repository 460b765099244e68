"""Pointwise relevance — rankgraph's one relevance judge: one call per candidate,
score read from the label logprobs.

`yesno` scores P(Yes) normalised over Yes/No; `graded` the expected grade over
0–3, divided by 3. All candidates are scored concurrently (the client bounds
the concurrency). The prompt is a `prompts/judge_*.md` file: `judge` names a
yes/no one ("answers": does the passage answer the query?, "relevant",
"useful"); without it the variant and layout pick one (instructions + query
first lets the engine share a cached prefix, "passage then query" ranks better
with Qwen-0.5B). The filter agent judges with this same class, so a score means
the same thing in both places. With `reasoning=True` the model thinks first
(capped), then answers; the reasoning stays in the trace.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rankgraph.errors import ConfigError, PromptError
from rankgraph.llm.completion import Completion
from rankgraph.llm.labels import (
    TOP_LOGPROBS,
    answer_token,
    label_logprobs,
    softmax,
    unseen,
)
from rankgraph.llm.protocol import ChatClient
from rankgraph.prompts import load_prompt
from rankgraph.prompts.passages import fenced
from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.rerank.fusion import FusionMode
from rankgraph.rerank.options import between, choice, fusion_options
from rankgraph.rerank.run import NODE, QueryRun, order_by_scores
from rankgraph.schema import Passage
from rankgraph.trace import step

LABELS = {"yesno": ("Yes", "No"), "graded": ("0", "1", "2", "3")}
_WORD = re.compile(r"\b(yes|no|[0-3])\b", re.IGNORECASE)


@dataclass(frozen=True)
class PointwiseConfig:
    variant: Literal["yesno", "graded"] = "yesno"
    layout: Literal["query_first", "passage_first"] = "passage_first"
    judge: str | None = None
    reasoning: bool = False
    max_thinking_tokens: int = 256
    max_words: int = 120
    fusion: FusionMode = "zscore"
    fusion_weight: float = 0.5
    stop_at: float | None = None
    batch: int = 5

    def __post_init__(self) -> None:
        choice("pointwise", "variant", self.variant, LABELS)
        between("pointwise", "batch", self.batch, 1, 1000)
        if self.stop_at is not None:
            between("pointwise", "stop_at", self.stop_at, 0.0, 1.0)
        choice("pointwise", "layout", self.layout, ("query_first", "passage_first"))
        fusion_options("pointwise", self.fusion, self.fusion_weight)
        between("pointwise", "max_thinking_tokens", self.max_thinking_tokens, 1, 32768)
        if self.judge is not None:
            if self.variant != "yesno" or self.reasoning:
                raise ConfigError(
                    "pointwise option judge= names a yes/no prompt: use it with "
                    "variant='yesno' and reasoning=false"
                )
            try:
                load_prompt(self.prompt)
            except PromptError as exc:
                raise ConfigError(f"pointwise option judge={self.judge!r}: {exc}") from exc

    @property
    def prompt(self) -> str:
        """The `prompts/judge_*.md` file this config scores with."""
        if self.judge is not None:
            return f"judge_{self.judge}"
        layout = "reasoning" if self.reasoning else self.layout
        return f"judge_{self.variant}_{layout}"


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

    def __init__(self, client: ChatClient, config: PointwiseConfig | None = None) -> None:
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
        scores = await self._judge_down(run, query, passages)
        judged = [s for s in scores if s is not None]
        relevance = {p.id: s for p, s in zip(passages, scores, strict=True) if s is not None}
        m = len(judged)
        if run.failures or run.exhausted or m < 2 or any(s is None for s in scores[:m]):
            # unscored passages keep their slots; no fusion over made-up scores
            result = run.result(query, passages, order_by_scores(scores))
        else:
            # the judged head (all, or the batches before an early exit) reorders among
            # its own slots, fused with its first-stage scores; the rest stays below
            fused = run.result(
                query,
                passages[:m],
                order_by_scores(judged),
                judged,
                fusion=self.config.fusion,
                fusion_weight=self.config.fusion_weight,
            )
            result = fused.model_copy(
                update={
                    "passages": [*fused.passages, *passages[m:]],
                    "order": [*fused.order, *range(m, len(passages))],
                }
            )
        return result.model_copy(update={"relevance": relevance, "judge": self.config.prompt})

    async def _judge_down(
        self, run: QueryRun, query: str, passages: Sequence[Passage]
    ) -> list[float | None]:
        """Scores for every passage — or, with `stop_at`, for batches down the
        first-stage order until one passage clears it (adaptive depth: a confident
        find early saves the calls below it; the trace says how many)."""
        cfg = self.config
        if cfg.stop_at is None:
            return list(await asyncio.gather(*(self.score(run, query, p) for p in passages)))
        scores: list[float | None] = [None] * len(passages)
        for start in range(0, len(passages), cfg.batch):
            batch = passages[start : start + cfg.batch]
            got = await asyncio.gather(*(self.score(run, query, p) for p in batch))
            scores[start : start + len(batch)] = got
            if any(s is not None and s >= cfg.stop_at for s in got):
                saved = len(passages) - start - len(batch)
                if saved:
                    run.events.append(
                        step(
                            NODE,
                            method=self.name,
                            early_exit=True,
                            judged=start + len(batch),
                            saved_calls=saved,
                            reason=f"a passage scored >= stop_at={cfg.stop_at}",
                        )
                    )
                break
        return scores

    async def score(self, run: QueryRun, query: str, passage: Passage) -> float | None:
        """One candidate's score (one call), recorded in `run`; None when the call failed."""
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
