"""Any rankgraph reranker as a LangChain document compressor.

Why an adapter rather than a LangChain-specific reranker: every method already
speaks the one `Reranker` protocol; this maps `Document`s to `Passage`s and back, so
a `ContextualCompressionRetriever` gets every method (and its trace) for free.

    compressor = RerankCompressor(build("pointwise", client), top_n=5)
    docs = await compressor.acompress_documents(docs, "what is a flea?")

The sync `compress_documents` runs the async reranker on a private background loop
owned by the compressor: the LLM client's HTTP pool is bound to the loop that first
used it, so a fresh `asyncio.run` per call would break it. Use one style (sync or
async) per compressor and client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field, PrivateAttr

from rankgraph.aio import BackgroundLoop
from rankgraph.rerank.base import Reranker, RerankResult
from rankgraph.schema import Passage

SCORE_KEY = "relevance_score"
RANK_KEY = "rerank_rank"


def to_passages(documents: Sequence[Document]) -> list[Passage]:
    """Documents as Passages with positional ids, so duplicate or missing ids cannot collide."""
    passages = []
    for index, doc in enumerate(documents):
        meta = doc.metadata
        title = meta.get("title")
        source = meta.get("source")
        passages.append(
            Passage(
                id=str(index),
                text=doc.page_content,
                title=title if isinstance(title, str) else None,
                source=source if isinstance(source, str) else None,
            )
        )
    return passages


def from_result(
    documents: Sequence[Document], result: RerankResult, top_n: int | None
) -> list[Document]:
    """The documents in the reranked order, cut to `top_n`, with score and rank in metadata."""
    ranked = list(zip(result.order, result.passages, strict=True))
    if top_n is not None:
        ranked = ranked[:top_n]
    out = []
    for rank, (index, passage) in enumerate(ranked, start=1):
        doc = documents[index]
        metadata = {**doc.metadata, SCORE_KEY: passage.score, RANK_KEY: rank}
        out.append(doc.model_copy(update={"metadata": metadata}))
    return out


class RerankCompressor(BaseDocumentCompressor):
    """Reorders retrieved documents with a rankgraph reranker and keeps the best `top_n`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reranker: Reranker
    top_n: int | None = Field(default=3, ge=1)
    _loop: BackgroundLoop | None = PrivateAttr(default=None)
    _last: RerankResult | None = PrivateAttr(default=None)

    def __init__(self, reranker: Reranker, top_n: int | None = 3, **kwargs: Any) -> None:
        super().__init__(reranker=reranker, top_n=top_n, **kwargs)

    @property
    def last_result(self) -> RerankResult | None:
        """The latest call's full result: events, usage, repairs — what the trace needs."""
        return self._last

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        if not documents:
            return []
        result = await self.reranker.rerank(query, to_passages(documents), top_k=self.top_n)
        self._last = result
        return from_result(documents, result, self.top_n)

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        if not documents:
            return []
        if self._loop is None:
            self._loop = BackgroundLoop()
        return self._loop.run(self.acompress_documents(documents, query, callbacks))

    def close(self) -> None:
        """Stop the background loop of the sync path, if one was started."""
        if self._loop is not None:
            self._loop.close()
            self._loop = None
