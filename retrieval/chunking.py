"""Split documents into chunks sized in the embedding model's own tokens.

Chunk ids are content-addressed (source, document key, title, text, occurrence), so
re-indexing unchanged text produces the same ids and nothing is embedded twice.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rankgraph.errors import ConfigError
from rankgraph.retrieval.embeddings import SentenceEmbedder
from rankgraph.retrieval.loaders import LOADERS_VERSION, Document
from rankgraph.retrieval.store import Chunk


class Chunker:
    """Token-sized recursive splitting, with char offsets and stable ids."""

    def __init__(self, embedder: SentenceEmbedder, chunk_tokens: int, chunk_overlap: int) -> None:
        if chunk_tokens <= 0 or not 0 <= chunk_overlap < chunk_tokens:
            raise ConfigError(
                f"need 0 <= chunk_overlap < chunk_tokens, got {chunk_overlap} and {chunk_tokens}"
            )
        self._embedder = embedder
        self._tokens = chunk_tokens
        self._overlap = chunk_overlap
        self._splitter: RecursiveCharacterTextSplitter | None = None

    @property
    def signature(self) -> str:
        """What decides the chunks of a file besides its bytes (the manifest records it)."""
        return f"loaders{LOADERS_VERSION}/tokens{self._tokens}/overlap{self._overlap}"

    @property
    def splitter(self) -> RecursiveCharacterTextSplitter:
        """Built on first use: counting tokens needs the tokenizer, which loads the model."""
        if self._splitter is None:
            self._splitter = RecursiveCharacterTextSplitter(
                chunk_size=self._tokens,
                chunk_overlap=self._overlap,
                length_function=self._embedder.count_tokens,
                add_start_index=True,
            )
        return self._splitter

    def chunks(self, source: str, doc: Document, seen: Counter[str]) -> Iterator[Chunk]:
        """Chunks of `doc`; `seen` counts ids within one source to tell repeats apart."""
        key = doc.doc_id if doc.doc_id is not None else f"page:{doc.metadata.get('page', '')}"
        for piece in self.splitter.create_documents([doc.text]):
            text = piece.page_content
            base = _digest(source, key, doc.title or "", text)
            seen[base] += 1
            chunk_id = base if seen[base] == 1 else _digest(base, str(seen[base]))
            start = doc.offset + int(piece.metadata["start_index"])
            meta: dict[str, str | int | float | bool] = dict(doc.metadata)
            meta.update(start=start, end=start + len(text))
            if doc.doc_id is not None:
                meta["doc_id"] = doc.doc_id
            yield Chunk(id=chunk_id, text=text, source=source, title=doc.title, metadata=meta)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]
