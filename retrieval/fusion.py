"""Reciprocal-rank fusion: merge ranked lists without comparing their scores.

Dense cosine similarities and BM25 scores live on different scales, and so do the
result lists of different query rewrites; RRF only uses ranks, so it needs no
calibration (Cormack et al., 2009).
"""

from __future__ import annotations

from collections.abc import Sequence


def rrf(
    rankings: Sequence[Sequence[str]], k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    """Fuse ranked id lists; each id scores sum(w / (k + rank)), rank from 1, w = 1 by default.

    Ties keep the order in which ids were first seen, so fusion is deterministic.
    Weights let a stronger retriever count for more (weighted RRF).

    >>> rrf([["a", "b"], ["b", "c"]], k=60)[0][0]
    'b'
    >>> [i for i, _ in rrf([["a"], ["b"]])]
    ['a', 'b']
    >>> [i for i, _ in rrf([["a", "b"], ["b", "a"]], weights=[1.5, 0.5])]
    ['a', 'b']
    """
    if k < 0:
        raise ValueError(f"rrf k must be >= 0, got {k}")
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        seen: set[str] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:  # a list counts each id once, at its best rank
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    order = {item: i for i, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda pair: (-pair[1], order[pair[0]]))
