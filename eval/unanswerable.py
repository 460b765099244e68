"""Unanswerable questions built from an answerable QA set, without a second index.

A wiki-nq question's `answer_doc_ids` are *every* corpus document that contains
one of its gold aliases (the set's recipe), so a retriever that never returns
those documents makes the question unanswerable from the corpus. `Excluding`
wraps the retriever the graph uses and drops those documents from every
search (over-fetching so `k` results still come back): the same question,
asked with its evidence removed, must end in an abstention.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rankgraph.agents.deps import SearchesMany
from rankgraph.schema import Passage


@dataclass(frozen=True)
class Excluding:
    """A retriever that never returns passages of the excluded documents."""

    inner: SearchesMany
    excluded: frozenset[str]
    margin: int = 50

    async def asearch_many(
        self,
        queries: Sequence[str],
        *,
        k: int = 20,
        mode: Any = None,
        where: dict[str, Any] | None = None,
    ) -> list[Passage]:
        kwargs: dict[str, Any] = {"k": k + self.margin, "where": where}
        if mode is not None:
            kwargs["mode"] = mode
        found = await self.inner.asearch_many(queries, **kwargs)
        gone = [p for p in found if str(p.metadata.get("doc_id", p.id)) in self.excluded]
        kept = [p for p in found if str(p.metadata.get("doc_id", p.id)) not in self.excluded]
        return [_closed_up(p, gone) for p in kept[:k]]


def _closed_up(passage: Passage, gone: Sequence[Passage]) -> Passage:
    """`passage` with its first-stage ranks as if the `gone` passages were never indexed.

    >>> gone = [Passage(id="g", text="", ranks={"dense": 1, "bm25": 4})]
    >>> _closed_up(Passage(id="p", text="", ranks={"dense": 2, "bm25": 3}), gone).ranks
    {'dense': 1, 'bm25': 3}
    """
    ranks = {
        kind: rank - sum(1 for g in gone if g.ranks.get(kind, rank) < rank)
        for kind, rank in passage.ranks.items()
    }
    return passage.model_copy(update={"ranks": ranks})
