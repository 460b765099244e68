"""Top-k heap sort driven by an async "which of these is best?" selector.

Setwise (Zhuang et al.) picks the best of a parent and its c−1 children in one
call; PRP's heapsort is the same with c = 2. The algorithm is written once and
knows nothing about LLMs: `best_of(items)` returns the position of the best
item in `items`, or None when it could not tell (budget, failure, a tie); then
the prior order decides (the item earlier in the input wins), so a run whose
calls all fail returns the input order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

BestOf = Callable[[list[int]], Awaitable[int | None]]


async def heap_top_k(
    items: Sequence[int], k: int, best_of: BestOf, children: int, stop: Callable[[], bool]
) -> list[int]:
    """`items` reordered: the settled top-k first (best first), then the rest in input order.

    `children` is the heap's fan-out (set size − 1). Extraction stops as soon
    as k items are settled, or when `stop()` says the budget is gone.
    """
    arr = list(items)
    n = len(arr)
    prior = {item: position for position, item in enumerate(arr)}
    if n < 2:
        return arr

    async def sift(size: int, root: int) -> None:
        while True:
            first = children * root + 1
            kids = list(range(first, min(first + children, size)))
            if not kids or stop():
                return
            group = [root, *kids]
            members = [arr[i] for i in group]
            pick = await best_of(members)
            if pick is None:
                pick = min(range(len(group)), key=lambda p: prior[members[p]])
            best = group[pick]
            if best == root:
                return
            arr[root], arr[best] = arr[best], arr[root]
            root = best

    for root in range((n - 2) // children, -1, -1):
        await sift(n, root)
    settled: list[int] = []
    size = n
    while size > 0 and len(settled) < min(k, n) and not stop():
        settled.append(arr[0])
        size -= 1
        arr[0] = arr[size]
        await sift(size, 0)
    if stop() and not settled:
        return list(items)
    chosen = set(settled)
    return settled + [i for i in items if i not in chosen]
