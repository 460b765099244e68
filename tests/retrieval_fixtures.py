"""Shared helpers for the retrieval, ingest and eval tests.

The embedding model is loaded once per test session (`shared_embedder` is cached), and
tests copy slices of wiki-nq from ../shared/data into their own tmp data dirs.
"""

from __future__ import annotations

import functools
import itertools
import json
from pathlib import Path

import pytest

from rankgraph.config import Settings
from rankgraph.retrieval import Retriever, SentenceEmbedder, Store, index_paths

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SLICE_DOCS = 200


def wiki_nq(name: str) -> Path:
    """A wiki-nq file from ../shared/data; the test skips, saying where, when it is absent."""
    path = SHARED_DATA / "wiki-nq" / name
    if not path.is_file():
        pytest.skip(f"shared data not found at {path}")
    return path


@functools.cache
def shared_embedder() -> SentenceEmbedder:
    return SentenceEmbedder()


def make_settings(root: Path, **retrieval: object) -> Settings:
    return Settings(data_dir=root / "data", retrieval=retrieval)


def make_store(root: Path, name: str | None = None, **retrieval: object) -> Store:
    return Store.from_settings(make_settings(root, **retrieval), name, embedder=shared_embedder())


def write_corpus_slice(path: Path, n: int, start: int = 0) -> list[dict[str, str]]:
    """The wiki-nq documents [start, start+n) as a JSONL file; returns the records."""
    with wiki_nq("corpus.jsonl").open(encoding="utf-8") as fh:
        lines = list(itertools.islice(fh, start, start + n))
    path.write_text("".join(lines), encoding="utf-8")
    return [json.loads(line) for line in lines]


def questions_for(doc_ids: set[str]) -> list[dict[str, object]]:
    """wiki-nq questions with at least one answer document among `doc_ids`."""
    with wiki_nq("questions.jsonl").open(encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    return [q for q in records if doc_ids.intersection(q["answer_doc_ids"])]


def build_wiki_slice(root: Path) -> tuple[Retriever, list[dict[str, str]]]:
    """A store under `root` holding the first SLICE_DOCS wiki-nq documents."""
    corpus = root / "corpus.jsonl"
    docs = write_corpus_slice(corpus, SLICE_DOCS)
    store = make_store(root)
    index_paths(store, [corpus])
    return Retriever(store, make_settings(root).retrieval), docs
