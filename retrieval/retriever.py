"""Search a `Store`: dense, BM25, or their reciprocal-rank fusion, for one or many queries.

This is the interface the agents rely on: `search`, `search_many` and their async
twins return `Passage`s with `score` set and `source`, `title`, `metadata` filled.
Scores are cosine similarity (dense), BM25 (bm25) or the RRF score (hybrid, and any
fusion of several queries). `ranks` keeps each passage's place in the dense and BM25
lists before fusion, the facts the graph's rerank step reads to decide whether the
first stage is already confident.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from rankgraph.choices import RETRIEVAL_MODES, RetrievalMode
from rankgraph.config import RetrievalSettings, Settings
from rankgraph.errors import ConfigError, InputError, RetrievalError
from rankgraph.retrieval.fusion import rrf
from rankgraph.retrieval.store import Store
from rankgraph.schema import Passage

Ranked = list[tuple[str, float]]


class Retriever:
    """Searches one collection; defaults (k, mode, fusion) come from `RetrievalSettings`."""

    def __init__(self, store: Store, config: RetrievalSettings) -> None:
        self.store = store
        self.config = config

    @classmethod
    def from_settings(cls, settings: Settings, collection: str | None = None) -> Retriever:
        return cls(Store.from_settings(settings, collection), settings.retrieval)

    def count(self) -> int:
        return self.store.count()

    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        mode: RetrievalMode | None = None,
        where: dict[str, Any] | None = None,
    ) -> list[Passage]:
        """The top-k passages for one query."""
        return self.search_many([query], k=k, mode=mode, where=where)

    def search_many(
        self,
        queries: Sequence[str],
        *,
        k: int | None = None,
        mode: RetrievalMode | None = None,
        where: dict[str, Any] | None = None,
    ) -> list[Passage]:
        """The top-k passages for several phrasings of one need, fused by RRF, deduped.

        A text stored more than once (the same page saved in two folders, a docs site's
        print-all page beside its chapters) is returned once, at its best rank, so it
        does not take several of the reader's few places.
        """
        if isinstance(queries, str):
            raise InputError("search_many takes a list of queries, not a string")
        cleaned = [q.strip() for q in queries]
        if not cleaned or not all(cleaned):
            raise InputError("empty query: pass a question with at least one word")
        k = self.config.k if k is None else k
        mode = mode or self.config.mode
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        if mode not in RETRIEVAL_MODES:
            raise ConfigError(
                f"unknown retrieval mode {mode!r}: use one of {', '.join(RETRIEVAL_MODES)}"
            )
        if self.store.count() == 0:
            raise RetrievalError(
                f"collection {self.store.name!r} is empty or missing: run "
                "`rankgraph index PATH` first"
            )
        ranked, ranks = self._rank(cleaned, k, mode, where)
        out: list[Passage] = []
        texts: set[str] = set()
        for start in range(0, len(ranked), k):  # more only when duplicates were dropped
            window = ranked[start : start + k]
            found = self.store.passages([i for i, _ in window])
            for i, score in window:
                passage = found.get(i)
                if passage is None:
                    continue
                text = " ".join(passage.text.split())
                if text in texts:
                    continue
                texts.add(text)
                out.append(passage.model_copy(update={"score": score, "ranks": ranks.get(i, {})}))
                if len(out) == k:
                    return out
        return out

    def _rank(
        self, queries: list[str], k: int, mode: RetrievalMode, where: Mapping[str, Any] | None
    ) -> tuple[Ranked, dict[str, dict[str, int]]]:
        """The fused ranking, and each id's best rank in the dense and BM25 lists."""
        depth = max(k, self.config.candidates)  # room to replace duplicate texts
        lists: list[Ranked] = []
        weights: list[float] = []
        ranks: dict[str, dict[str, int]] = {}
        if mode in ("dense", "hybrid"):
            dense = self.store.dense(queries, depth, where)
            lists += dense
            weights += [2 * self.config.dense_weight] * len(dense)
            _best_ranks(ranks, "dense", dense)
        if mode in ("bm25", "hybrid"):
            sparse = self.store.bm25(queries, depth, where)
            lists += sparse
            weights += [2 * (1 - self.config.dense_weight)] * len(sparse)
            _best_ranks(ranks, "bm25", sparse)
        if len(lists) == 1:
            return lists[0], ranks
        if mode != "hybrid":  # several queries of one kind: plain RRF
            weights = [1.0] * len(lists)
        fused = rrf([[i for i, _ in ranking] for ranking in lists], self.config.rrf_k, weights)
        return fused, ranks

    async def asearch(
        self,
        query: str,
        *,
        k: int | None = None,
        mode: RetrievalMode | None = None,
        where: dict[str, Any] | None = None,
    ) -> list[Passage]:
        return await asyncio.to_thread(self.search, query, k=k, mode=mode, where=where)

    async def asearch_many(
        self,
        queries: Sequence[str],
        *,
        k: int | None = None,
        mode: RetrievalMode | None = None,
        where: dict[str, Any] | None = None,
    ) -> list[Passage]:
        return await asyncio.to_thread(self.search_many, queries, k=k, mode=mode, where=where)

    def as_langchain(
        self, k: int | None = None, mode: RetrievalMode | None = None
    ) -> BaseRetriever:
        """This retriever as a LangChain `BaseRetriever` (Documents carry id and score)."""
        return LangchainRetriever(retriever=self, k=k, mode=mode)


def _best_ranks(out: dict[str, dict[str, int]], kind: str, lists: Sequence[Ranked]) -> None:
    """Record in `out` each id's best 1-based rank over `lists` (one per query) as `kind`.

    >>> out: dict[str, dict[str, int]] = {}
    >>> _best_ranks(out, "bm25", [[("a", 9.0), ("b", 3.0)], [("b", 5.0)]])
    >>> out
    {'a': {'bm25': 1}, 'b': {'bm25': 1}}
    """
    for ranking in lists:
        for rank, (item, _) in enumerate(ranking, start=1):
            seen = out.setdefault(item, {})
            seen[kind] = min(rank, seen.get(kind, rank))


class LangchainRetriever(BaseRetriever):
    """Adapter: LangChain's retriever interface over `Retriever`."""

    retriever: Any
    k: int | None = None
    mode: RetrievalMode | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [_document(p) for p in self.retriever.search(query, k=self.k, mode=self.mode)]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        found = await self.retriever.asearch(query, k=self.k, mode=self.mode)
        return [_document(p) for p in found]


def _document(passage: Passage) -> Document:
    meta = {
        **passage.metadata,
        "id": passage.id,
        "score": passage.score,
        "title": passage.title,
        "source": passage.source,
        "ranks": passage.ranks,
    }
    return Document(page_content=passage.text, metadata=meta, id=passage.id)
