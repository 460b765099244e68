"""Window and block layouts over a candidate list: pure index arithmetic.

Kept apart from the methods so the sliding-window math (the part rank_llm wrote
three times) is written once and tested on its own.
"""

from __future__ import annotations

import random


def windows(n: int, size: int, stride: int) -> list[slice]:
    """RankGPT's sliding windows, bottom of the list first.

    Starting at the bottom and moving up lets a strong passage found low in the
    list bubble towards the top within one pass. The last window always starts
    at 0, so every position is covered; a list that fits is one window.

    >>> windows(100, 20, 10)[:2], windows(100, 20, 10)[-1], len(windows(100, 20, 10))
    ([slice(80, 100, None), slice(70, 90, None)], slice(0, 20, None), 9)
    >>> windows(25, 20, 10)
    [slice(5, 25, None), slice(0, 20, None)]
    >>> windows(7, 20, 10)
    [slice(0, 7, None)]
    """
    if size < 2 or stride < 1:
        raise ValueError(f"window size must be >= 2 and stride >= 1, got {size}/{stride}")
    if n <= 0:
        return []
    if n <= size:
        return [slice(0, n)]
    out: list[slice] = []
    start = n - size
    while start > 0:
        out.append(slice(start, start + size))
        start -= stride
    out.append(slice(0, size))
    return out


def blocks(n: int, size: int, replicas: int, seed: int = 0) -> list[list[int]]:
    """JointRank's overlapping blocks: `replicas` partitions of range(n) into blocks.

    The first partition follows the input order (so the first-stage top lands in
    one block); the others are seeded shuffles, so most pairs of candidates
    meet in some block and every candidate appears exactly `replicas` times.
    A short last block is topped up with candidates from the partition's start,
    so no block is too small to rank (those candidates then appear once more).

    >>> blocks(6, 3, 1)
    [[0, 1, 2], [3, 4, 5]]
    >>> blocks(5, 3, 1)
    [[0, 1, 2], [3, 4, 0]]
    """
    if size < 2 or replicas < 1:
        raise ValueError(f"block size must be >= 2 and replicas >= 1, got {size}/{replicas}")
    if n <= size:
        return [list(range(n))] if n else []
    rng = random.Random(seed)
    out: list[list[int]] = []
    for replica in range(replicas):
        order = list(range(n))
        if replica:
            rng.shuffle(order)
        for start in range(0, n, size):
            block = order[start : start + size]
            if len(block) < size:
                block += [i for i in order[: size - len(block)] if i not in block]
            out.append(block)
    return out
