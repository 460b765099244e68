"""Fuse an LLM's scores with the first-stage ranking.

docs/benchmarks.md: the default 0.5B model alone ranks worse than BM25, but its signal is
not noise. Fusion keeps the first stage as a prior and lets the LLM move
passages, so a weak judge can still add to a strong retriever. Pure functions.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Literal

FusionMode = Literal["none", "rrf", "zscore"]
FUSION_MODES: tuple[str, ...] = ("none", "rrf", "zscore")
RRF_K = 60


def ranks(scores: Sequence[float]) -> list[int]:
    """0-based rank of each item by descending score; ties keep input order.

    >>> ranks([0.1, 0.9, 0.5])
    [2, 0, 1]
    """
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    out = [0] * len(scores)
    for rank, i in enumerate(order):
        out[i] = rank
    return out


def zscores(values: Sequence[float]) -> list[float]:
    """Standardised values; all zeros when they do not vary.

    >>> zscores([1.0, 1.0])
    [0.0, 0.0]
    """
    if len(values) < 2:
        return [0.0] * len(values)
    mean = statistics.fmean(values)
    sd = statistics.pstdev(values)
    if sd == 0 or math.isnan(sd):
        return [0.0] * len(values)
    return [(v - mean) / sd for v in values]


def first_stage_scores(scores: Sequence[float | None]) -> list[float] | None:
    """The first-stage scores; None when any is missing, and then nothing is fused.

    Why not fall back to the input order: documents without scores (a `/v1/rerank`
    request, a candidates file without `score`) come in an order nobody promised is a
    ranking, and fusing it in let the order a client listed them in outweigh the judge.

    >>> first_stage_scores([2.0, 1.5]), first_stage_scores([2.0, None])
    ([2.0, 1.5], None)
    """
    if all(s is not None for s in scores):
        return [float(s) for s in scores if s is not None]
    return None


def fuse(
    llm: Sequence[float],
    first_stage: Sequence[float],
    mode: FusionMode,
    weight: float,
) -> list[float]:
    """Combined score per item; `weight` is the LLM's share in [0, 1].

    - none: the LLM score alone;
    - rrf: weighted reciprocal-rank fusion, w/(60 + rank_llm) + (1 - w)/(60 + rank_input);
    - zscore: w·z(llm) + (1 - w)·z(first stage), scores on one scale per query.

    >>> fuse([0.0, 1.0], [2.0, 1.0], "none", 0.5)
    [0.0, 1.0]
    >>> a, b = fuse([0.0, 1.0], [2.0, 1.0], "zscore", 0.7)
    >>> b > a
    True
    """
    if len(llm) != len(first_stage):
        raise ValueError(f"{len(llm)} LLM scores for {len(first_stage)} first-stage scores")
    if mode == "none":
        return list(llm)
    if mode == "rrf":
        llm_rank, input_rank = ranks(llm), ranks(first_stage)
        return [
            weight / (RRF_K + 1 + r) + (1 - weight) / (RRF_K + 1 + q)
            for r, q in zip(llm_rank, input_rank, strict=True)
        ]
    if mode == "zscore":
        return [
            weight * a + (1 - weight) * b
            for a, b in zip(zscores(llm), zscores(first_stage), strict=True)
        ]
    raise ValueError(f"unknown fusion mode {mode!r}: choose one of {', '.join(FUSION_MODES)}")
