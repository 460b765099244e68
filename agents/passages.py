"""Passage lists as the graph handles them: de-duplicated, and named by id in traces."""

from __future__ import annotations

from collections.abc import Iterable

from rankgraph.schema import Passage


def dedupe(passages: Iterable[Passage]) -> list[Passage]:
    """First occurrence of each id, order kept."""
    seen: set[str] = set()
    out: list[Passage] = []
    for passage in passages:
        if passage.id not in seen:
            seen.add(passage.id)
            out.append(passage)
    return out


def ids(passages: Iterable[Passage]) -> list[str]:
    return [p.id for p in passages]
