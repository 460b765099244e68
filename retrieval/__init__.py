"""Retrieval: Chroma dense search, BM25, and their fusion, over documents you index.

Typical use: `store = Store.from_settings(settings)`, then
`index_paths(store, ["docs/"])`, then `Retriever(store, settings.retrieval).search(
"who wrote dune", k=5, mode="hybrid")`. `Retriever.from_settings` does the first step.
"""

from rankgraph.choices import RETRIEVAL_MODES, RetrievalMode
from rankgraph.retrieval.embeddings import SentenceEmbedder
from rankgraph.retrieval.fusion import rrf
from rankgraph.retrieval.ingest import IngestReport, index_paths
from rankgraph.retrieval.retriever import Retriever
from rankgraph.retrieval.store import Store

__all__ = [
    "RETRIEVAL_MODES",
    "IngestReport",
    "RetrievalMode",
    "Retriever",
    "SentenceEmbedder",
    "Store",
    "index_paths",
    "rrf",
]
