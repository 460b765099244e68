"""Calibrated combination: several cheap per-candidate signals, z-scored per query
and summed with weights fitted on DL19 dev queries (`bench/fit_combined.py`).

Signals, each one call per candidate (skipped when its weight is 0):
- `yesno`: the pointwise judge's P(Yes), as a logit;
- `graded`: the graded judge's expected grade (0–3) / 3;
- `qlm`: mean log P(query | passage) (query likelihood);
- `first_stage`: the retriever's score (no call).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from rankgraph.errors import ConfigError
from rankgraph.llm.protocol import ChatClient
from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.rerank.fusion import first_stage_scores, zscores
from rankgraph.rerank.options import between
from rankgraph.rerank.pointwise import PointwiseConfig, PointwiseReranker
from rankgraph.rerank.qlm import QLMConfig, QLMReranker
from rankgraph.rerank.run import QueryRun, order_by_scores
from rankgraph.schema import Passage

SIGNALS = ("yesno", "graded", "qlm", "first_stage")
# Fitted per served model on DL19 queries 1–22 (file order) at depth 20, step-0.1 simplex
# grid: `bench/fit_combined.py` (command in its docstring; docs/benchmarks.md has the table).
FITTED: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "qwen2.5-0.5b": MappingProxyType({"yesno": 0.2, "qlm": 0.6, "first_stage": 0.2}),
        "qwen2.5-1.5b": MappingProxyType({"yesno": 0.6, "qlm": 0.4}),
    }
)
# What a model with no fit of its own gets: the largest fitted model's weights, since the
# larger the model, the more its judge carries and the less the first stage adds.
LARGEST_FITTED = "qwen2.5-1.5b"


def fitted_weights(model: str) -> dict[str, float]:
    """The weights fitted for the served `model`, else the largest fitted model's.

    >>> fitted_weights("qwen2.5-0.5b")["qlm"], fitted_weights("some-7b-model") == fitted_weights(
    ...     LARGEST_FITTED
    ... )
    (0.6, True)
    """
    return dict(FITTED.get(model, FITTED[LARGEST_FITTED]))


def combine(rows: Sequence[Mapping[str, float]], weights: Mapping[str, float]) -> list[float]:
    """Weighted sum of per-query z-scores of each signal.

    >>> combine([{"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 3.0}], {"a": 1.0, "b": 1.0})
    [0.0, 0.0]
    """
    total = [0.0] * len(rows)
    for name, weight in weights.items():
        if not weight:
            continue
        for i, z in enumerate(zscores([row[name] for row in rows])):
            total[i] += weight * z
    return total


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


@dataclass(frozen=True)
class CombinedConfig:
    weights: dict[str, float] | None = None  # None: `fitted_weights` of the served model
    max_words: int = 120

    def __post_init__(self) -> None:
        between("combined", "max_words", self.max_words, 1, 100_000)
        if self.weights is None:
            return
        unknown = set(self.weights) - set(SIGNALS)
        if unknown:
            raise ConfigError(
                f"combined option weights: unknown signal(s) {sorted(unknown)}; "
                f"choose from {', '.join(SIGNALS)}"
            )
        if any(w < 0 for w in self.weights.values()) or not any(self.weights.values()):
            raise ConfigError(f"combined option weights must be >= 0, one > 0: {self.weights}")

    @property
    def reads_prompt_logprobs(self) -> bool:
        """With unset weights, whether any fitted set weighs QLM (the model is not known yet)."""
        candidates = [self.weights] if self.weights else list(FITTED.values())
        return any(w.get("qlm", 0.0) > 0 for w in candidates)


class CombinedReranker:
    """Score each candidate with every weighted signal, combine, sort."""

    name = "combined"

    def __init__(self, client: ChatClient, config: CombinedConfig | None = None) -> None:
        self.client = client
        self.config = config or CombinedConfig()
        words = self.config.max_words
        self._yesno = PointwiseReranker(client, PointwiseConfig(max_words=words))
        self._graded = PointwiseReranker(client, PointwiseConfig(variant="graded", max_words=words))
        self._qlm = QLMReranker(client, QLMConfig(max_words=words))

    async def rerank(
        self,
        query: str,
        passages: Sequence[Passage],
        *,
        top_k: int | None = None,
        budget: Budget | None = None,
    ) -> RerankResult:
        run = QueryRun(self.client, self.name, budget)
        chosen = self.config.weights or fitted_weights(await self.client.model())
        weights = {k: w for k, w in chosen.items() if w}
        columns: dict[str, list[float | None]] = {}
        prior = first_stage_scores([p.score for p in passages])
        if prior is None:  # documents without scores: the judges' signals decide alone
            weights.pop("first_stage", None)
        elif "first_stage" in weights:
            columns["first_stage"] = list(prior)
        scorers = {"yesno": self._yesno.score, "graded": self._graded.score, "qlm": self._qlm.score}
        names = [n for n in ("yesno", "graded", "qlm") if n in weights]
        got = await asyncio.gather(*(scorers[n](run, query, p) for n in names for p in passages))
        for k, name in enumerate(names):
            values = list(got[k * len(passages) : (k + 1) * len(passages)])
            columns[name] = [logit(v) if v is not None and name == "yesno" else v for v in values]
        complete = [
            i for i in range(len(passages)) if all(c[i] is not None for c in columns.values())
        ]
        rows = [{n: float(columns[n][i] or 0.0) for n in columns} for i in complete]
        combined: list[float | None] = [None] * len(passages)
        for i, s in zip(complete, combine(rows, weights), strict=True):
            combined[i] = s
        result = run.result(query, passages, order_by_scores(combined))
        ranked = [
            p.with_score(combined[i]) for p, i in zip(result.passages, result.order, strict=True)
        ]
        relevance = {p.id: s for p, s in zip(passages, combined, strict=True) if s is not None}
        return result.model_copy(
            update={"passages": ranked, "relevance": relevance, "judge": "combined"}
        )
