"""One searchable collection: Chroma vectors + a BM25 index kept in step with them.

Chroma holds the chunks (text, metadata, vectors) and is the source of truth. Beside
it, under `data_dir/index/<collection id>/`, live the BM25 index and the ingest
manifest; both are caches that can be rebuilt from the collection.

Several processes may write one collection at once (two `index` runs, or workers
against a Chroma server). So: a collection is created if absent, and a writer that
loses that race opens the winner's; every write sets a fresh random version stamp
in the collection's metadata before and after it, so the BM25 index, keyed by
"stamp:count", is known to be stale after any write, even an interrupted one (a
counter read-modify-written by concurrent writers lost increments); the BM25 index
is written to a private folder and published by an atomic rename (bm25.py).
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.types import Embeddable, EmbeddingFunction
from chromadb.errors import ChromaError, NotFoundError

from rankgraph.config import Settings
from rankgraph.errors import ConfigError, RetrievalError
from rankgraph.retrieval.bm25 import BM25Index
from rankgraph.retrieval.chroma import chroma_client
from rankgraph.retrieval.embeddings import SentenceEmbedder
from rankgraph.retrieval.manifest import Manifest
from rankgraph.schema import Passage

log = logging.getLogger(__name__)

MODEL_KEY = "rankgraph_embedding_model"
DIM_KEY = "rankgraph_embedding_dim"
VERSION_KEY = "rankgraph_version"
_PAGE = 5000
_NOT_INDEXED = "run `rankgraph index PATH` first"


@dataclass(frozen=True)
class Chunk:
    """A piece of a document ready to store; `id` is content-addressed."""

    id: str
    text: str
    source: str
    title: str | None = None
    metadata: Mapping[str, str | int | float | bool] = field(default_factory=dict)

    @property
    def index_text(self) -> str:
        """What is embedded and BM25-indexed: the title gives a chunk its context."""
        return index_text(self.title, self.text)


def index_text(title: str | None, text: str) -> str:
    return f"{title}\n{text}" if title else text


def _chroma_embedding_function(embedder: SentenceEmbedder) -> EmbeddingFunction[Embeddable]:
    """`embedder` (the same object) typed as Chroma's client API asks for it.

    Chroma types `embedding_function` as `EmbeddingFunction[Documents | Images]`, and the
    protocol is contravariant in its input, so no text-only function satisfies it (Chroma
    itself needs a `# type: ignore` for its own text-only default). rankgraph only ever
    adds documents, never images, so the cast is safe.
    """
    return cast("EmbeddingFunction[Embeddable]", embedder)


class Store:
    """A named collection with its embedder, BM25 index and ingest manifest."""

    def __init__(
        self,
        client: ClientAPI,
        name: str,
        embedder: SentenceEmbedder,
        state_root: Path,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]", name):
            raise ConfigError(
                f"invalid collection name {name!r}: use 3-512 characters from "
                "[A-Za-z0-9._-], starting and ending with a letter or digit"
            )
        self.name = name
        self.embedder = embedder
        self._client = client
        self._state_root = state_root
        self._bm25: BM25Index | None = None
        self._bm25_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        collection: str | None = None,
        *,
        embedder: SentenceEmbedder | None = None,
    ) -> Store:
        """The store `settings` describe; pass `embedder` to share a loaded model."""
        retrieval = settings.retrieval
        embedder = embedder or SentenceEmbedder(
            retrieval.embedding_model, retrieval.batch_size, settings.cache_dir
        )
        if embedder.model_name != retrieval.embedding_model:
            raise ConfigError(
                f"embedder model {embedder.model_name!r} differs from "
                f"retrieval.embedding_model {retrieval.embedding_model!r}"
            )
        return cls(
            chroma_client(settings),
            collection or retrieval.collection,
            embedder,
            settings.data_dir / "index",
        )

    # --- the collection --------------------------------------------------------------

    def _open(self, *, create: bool = False) -> Collection | None:
        """The collection, checked against our model; None if missing and not `create`."""
        try:
            found = self._client.get_collection(
                self.name, embedding_function=_chroma_embedding_function(self.embedder)
            )
        except NotFoundError:
            found = None
        except ValueError as exc:  # e.g. the collection persists another embedding function
            raise RetrievalError(
                f"cannot open collection {self.name!r} with embedding model "
                f"{self.embedder.model_name!r}: {exc}"
            ) from exc
        if found is None:
            if not create:
                return None
            found = self._create()
        stored = (found.metadata or {}).get(MODEL_KEY)
        if stored != self.embedder.model_name:
            raise RetrievalError(
                f"collection {self.name!r} was built with embedding model {stored!r}, "
                f"not {self.embedder.model_name!r}: set retrieval.embedding_model to "
                f"{stored!r} or index into another collection (--collection NAME)"
            )
        return found

    def _create(self) -> Collection:
        """Create the collection; if another writer created it first, open theirs."""
        try:
            return self._client.create_collection(
                self.name,
                embedding_function=_chroma_embedding_function(self.embedder),
                configuration={"hnsw": {"space": "cosine"}},
                metadata={
                    MODEL_KEY: self.embedder.model_name,
                    DIM_KEY: self.embedder.dimension,
                    VERSION_KEY: new_stamp(),
                },
            )
        except (ChromaError, ValueError) as exc:
            if "already exists" not in str(exc):
                raise RetrievalError(f"cannot create collection {self.name!r}: {exc}") from exc
            log.info("collection %s was created by another writer; opening it", self.name)
            return self._client.get_collection(
                self.name, embedding_function=_chroma_embedding_function(self.embedder)
            )

    def collection(self, *, create: bool = False) -> Collection:
        found = self._open(create=create)
        if found is None:
            raise RetrievalError(f"collection {self.name!r} does not exist: {_NOT_INDEXED}")
        return found

    def exists(self) -> bool:
        return self._open() is not None

    def count(self) -> int:
        """Chunks stored; 0 when the collection does not exist yet."""
        found = self._open()
        return 0 if found is None else found.count()

    def metadata(self) -> dict[str, Any]:
        return dict(self.collection().metadata or {})

    def set_metadata(self, **values: str | int | float | bool) -> None:
        """Merge `values` into the collection metadata (for bookkeeping such as timings)."""
        coll = self.collection()
        coll.modify(metadata={**(coll.metadata or {}), **values})

    def manifest(self) -> Manifest:
        return Manifest(self._state_dir(self.collection(create=True)) / "manifest.sqlite")

    def _state_dir(self, coll: Collection) -> Path:
        return self._state_root / str(coll.id)

    # --- writes ----------------------------------------------------------------------

    def _bump_version(self, coll: Collection) -> None:
        """Set a fresh stamp: unlike a counter, concurrent writers cannot undo each other's."""
        current = self._client.get_collection(
            self.name, embedding_function=_chroma_embedding_function(self.embedder)
        )
        coll.modify(metadata={**(current.metadata or {}), VERSION_KEY: new_stamp()})

    def version(self) -> str:
        """The collection's current version stamp ('' when it does not exist)."""
        found = self._open()
        return "" if found is None else str((found.metadata or {}).get(VERSION_KEY, ""))

    def add(self, chunks: Sequence[Chunk]) -> None:
        """Embed and upsert one batch; the batch is durable once this returns."""
        if not chunks:
            return
        coll = self.collection(create=True)
        vectors = self.embedder.encode([c.index_text for c in chunks])
        self._bump_version(coll)
        coll.upsert(
            ids=[c.id for c in chunks],
            embeddings=vectors,
            documents=[c.text for c in chunks],
            metadatas=[chunk_metadata(c) for c in chunks],
        )
        self._bump_version(coll)  # an index built during the write is stale too

    def update_metadata(self, chunks: Sequence[Chunk]) -> None:
        """Refresh metadata (offsets, extra fields) of stored chunks without re-embedding.

        Text and title are part of a chunk's id, so the vectors and BM25 stay valid.
        """
        if chunks:
            self.collection().update(
                ids=[c.id for c in chunks], metadatas=[chunk_metadata(c) for c in chunks]
            )

    def delete(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        coll = self.collection()
        self._bump_version(coll)
        for start in range(0, len(ids), _PAGE):
            coll.delete(ids=list(ids[start : start + _PAGE]))
        self._bump_version(coll)

    # --- reads -----------------------------------------------------------------------

    def ids_where(self, where: Mapping[str, Any]) -> set[str]:
        found = self._open()
        if found is None:
            return set()
        return {i for page in _pages(found, where=dict(where), include=[]) for i in page["ids"]}

    def stored_metadata(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Metadata of those `ids` that are stored (to tell new chunks from kept ones)."""
        found = self._open()
        if found is None or not ids:
            return {}
        got = found.get(ids=list(ids), include=["metadatas"])
        metas = got["metadatas"] or []
        return {i: dict(m or {}) for i, m in zip(got["ids"], metas, strict=True)}

    def sources(self) -> set[str]:
        found = self._open()
        if found is None:
            return set()
        out: set[str] = set()
        for page in _pages(found, include=["metadatas"]):
            out.update(str(m["source"]) for m in page["metadatas"] or [] if m and "source" in m)
        return out

    def passages(self, ids: Sequence[str]) -> dict[str, Passage]:
        """Stored chunks as Passages (score unset), keyed by id."""
        if not ids:
            return {}
        got = self.collection().get(ids=list(ids), include=["documents", "metadatas"])
        docs = got["documents"] or []
        metas = got["metadatas"] or []
        out: dict[str, Passage] = {}
        for chunk_id, text, meta in zip(got["ids"], docs, metas, strict=True):
            extra = dict(meta or {})
            title = extra.pop("title", None)
            source = extra.pop("source", None)
            out[chunk_id] = Passage(
                id=chunk_id,
                text=text or "",
                title=None if title is None else str(title),
                source=None if source is None else str(source),
                metadata=extra,
            )
        return out

    def dense(
        self, queries: Sequence[str], k: int, where: Mapping[str, Any] | None = None
    ) -> list[list[tuple[str, float]]]:
        """Top-k (id, cosine similarity) per query."""
        coll = self.collection()
        n = min(k, coll.count())
        if n == 0:
            return [[] for _ in queries]
        vectors = self.embedder.encode(list(queries))
        got = coll.query(
            query_embeddings=vectors,
            n_results=n,
            where=dict(where) if where else None,
            include=["distances"],
        )
        distances = got["distances"] or [[] for _ in queries]
        return [
            [(i, 1.0 - float(d)) for i, d in zip(ids, dists, strict=True)]
            for ids, dists in zip(got["ids"], distances, strict=True)
        ]

    def bm25(
        self, queries: Sequence[str], k: int, where: Mapping[str, Any] | None = None
    ) -> list[list[tuple[str, float]]]:
        """Top-k (id, BM25 score) per query; `where` is applied through Chroma's ids."""
        index = self.bm25_index()
        allowed = self.ids_where(where) if where else None
        return index.search(queries, k, allowed)

    def bm25_index(self) -> BM25Index:
        """The BM25 index for the collection as it is now, rebuilt if stale."""
        coll = self.collection()
        key = f"{(coll.metadata or {}).get(VERSION_KEY, 0)}:{coll.count()}"
        with self._bm25_lock:
            if self._bm25 is not None and self._bm25.key == key:
                return self._bm25
            directory = self._state_dir(coll) / "bm25"
            index = BM25Index.load(directory)
            if index is None or index.key != key:
                log.info("building BM25 index for %s (%s)", self.name, key)
                ids: list[str] = []
                texts: list[str] = []
                for page in _pages(coll, include=["documents", "metadatas"]):
                    metas = page["metadatas"] or []
                    for chunk_id, text, meta in zip(
                        page["ids"], page["documents"] or [], metas, strict=True
                    ):
                        title = (meta or {}).get("title")
                        ids.append(chunk_id)
                        texts.append(index_text(None if title is None else str(title), text))
                index = BM25Index.build(ids, texts, key)
                index.save(directory)
            self._bm25 = index
            return index


def new_stamp() -> str:
    """A version stamp no other write will ever set."""
    return uuid.uuid4().hex


def chunk_metadata(chunk: Chunk) -> dict[str, str | int | float | bool]:
    meta: dict[str, str | int | float | bool] = dict(chunk.metadata)
    meta["source"] = chunk.source
    if chunk.title:
        meta["title"] = chunk.title
    return meta


def _pages(coll: Collection, **kwargs: Any) -> Iterator[Any]:
    """`coll.get` in pages, so a large collection is never fetched in one request."""
    offset = 0
    while True:
        try:
            page = coll.get(limit=_PAGE, offset=offset, **kwargs)
        except ChromaError as exc:
            raise RetrievalError(f"reading collection {coll.name!r} failed: {exc}") from exc
        if not page["ids"]:
            return
        yield page
        if len(page["ids"]) < _PAGE:
            return
        offset += _PAGE
