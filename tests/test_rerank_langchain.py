"""The LangChain adapter: documents in, the reranker's order out, cut to top_n."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.documents import BaseDocumentCompressor, Document

from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.rerank.langchain import RANK_KEY, SCORE_KEY, RerankCompressor
from rankgraph.schema import Passage


class ByLength:
    """Ranks longer texts first, scoring each by its length; records the top_k it was given."""

    name = "by-length"

    def __init__(self) -> None:
        self.top_k: int | None = None
        self.seen: list[Passage] = []

    async def rerank(
        self,
        query: str,
        passages: Sequence[Passage],
        *,
        top_k: int | None = None,
        budget: Budget | None = None,
    ) -> RerankResult:
        self.top_k, self.seen = top_k, list(passages)
        order = sorted(range(len(passages)), key=lambda i: -len(passages[i].text))
        ranked = [passages[i].with_score(float(len(passages[i].text))) for i in order]
        return RerankResult(query=query, method=self.name, passages=ranked, order=order)


DOCS = [
    Document(page_content="bb", metadata={"source": "x.md", "keep": 1}),
    Document(page_content="dddd", metadata={"title": "T"}),
    Document(page_content="a"),
    Document(page_content="ccc"),
]


def test_compressor_is_a_langchain_document_compressor() -> None:
    assert isinstance(RerankCompressor(ByLength(), top_n=2), BaseDocumentCompressor)


async def test_async_compress_returns_top_n_in_reranked_order_with_scores() -> None:
    reranker = ByLength()
    compressor = RerankCompressor(reranker, top_n=2)
    out = await compressor.acompress_documents(DOCS, "q")
    assert [d.page_content for d in out] == ["dddd", "ccc"]
    assert [d.metadata[RANK_KEY] for d in out] == [1, 2]
    assert out[0].metadata[SCORE_KEY] == 4.0
    assert out[0].metadata["title"] == "T"
    assert reranker.top_k == 2
    assert compressor.last_result is not None
    assert compressor.last_result.method == "by-length"


async def test_passages_carry_text_title_and_source_with_unique_ids() -> None:
    reranker = ByLength()
    await RerankCompressor(reranker, top_n=None).acompress_documents([*DOCS, DOCS[0]], "q")
    assert [p.id for p in reranker.seen] == ["0", "1", "2", "3", "4"]
    assert reranker.seen[0].source == "x.md"
    assert reranker.seen[1].title == "T"


def test_sync_compress_runs_on_its_own_loop_and_keeps_metadata() -> None:
    compressor = RerankCompressor(ByLength(), top_n=None)
    try:
        first = compressor.compress_documents(DOCS, "q")
        again = compressor.compress_documents(DOCS, "q")
    finally:
        compressor.close()
    assert [d.page_content for d in first] == ["dddd", "ccc", "bb", "a"]
    assert first == again
    assert first[2].metadata == {"source": "x.md", "keep": 1, SCORE_KEY: 2.0, RANK_KEY: 3}


async def test_no_documents_means_no_call() -> None:
    reranker = ByLength()
    assert await RerankCompressor(reranker).acompress_documents([], "q") == []
    assert reranker.top_k is None and reranker.seen == []
