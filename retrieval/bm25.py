"""A BM25 index (bm25s) over a collection's chunks, saved on disk beside the store.

Tokenisation follows the wiki-nq baseline: bm25s' regex tokenizer, English stopwords
and the Snowball English stemmer (PyStemmer). The index is a cache of the collection:
it records the collection `key` it was built from, and the store rebuilds it when the
key no longer matches.

On disk, `<dir>` is a small file naming the folder that holds the current index
(`<dir>.<random>/`). A writer saves into its own new folder and then replaces that
file atomically, so concurrent rebuilds never share a folder and a reader sees the
old index or the new one, never half of one. Superseded folders are removed once
they are older than a reader could still be loading them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on import

_META = "rankgraph.json"
STALE_AFTER_S = 600.0


@dataclass(frozen=True)
class BM25Index:
    """A bm25s index plus the chunk id of each of its rows."""

    ids: tuple[str, ...]
    key: str
    retriever: bm25s.BM25
    stemmer: Stemmer.Stemmer

    @classmethod
    def build(cls, ids: Sequence[str], texts: Sequence[str], key: str) -> BM25Index:
        stemmer = Stemmer.Stemmer("english")
        tokens = bm25s.tokenize(list(texts), stopwords="en", stemmer=stemmer, show_progress=False)
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        return cls(ids=tuple(ids), key=key, retriever=retriever, stemmer=stemmer)

    def save(self, directory: Path) -> None:
        """Publish atomically: readers see the old index or the new one, never half."""
        directory.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{directory.name}.", dir=directory.parent))
        self.retriever.save(str(folder), show_progress=False)
        (folder / _META).write_text(json.dumps({"key": self.key, "ids": list(self.ids)}))
        pointer = folder.with_name(folder.name + ".ptr")
        pointer.write_text(folder.name)
        if directory.is_dir() and not directory.is_symlink():  # the pre-pointer layout
            shutil.rmtree(directory, ignore_errors=True)
        os.replace(pointer, directory)
        _remove_superseded(directory, keep=folder.name)

    @classmethod
    def load(cls, directory: Path) -> BM25Index | None:
        """The saved index, or None when there is none or it is unreadable."""
        try:
            folder = directory.with_name(directory.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            meta = json.loads((folder / _META).read_text())
            retriever = bm25s.BM25.load(str(folder), show_progress=False)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable BM25 index in %s (%s); rebuilding", folder, exc)
            return None
        return cls(
            ids=tuple(meta["ids"]),
            key=str(meta["key"]),
            retriever=retriever,
            stemmer=Stemmer.Stemmer("english"),
        )

    def search(
        self, queries: Sequence[str], k: int, allowed: Collection[str] | None = None
    ) -> list[list[tuple[str, float]]]:
        """Top-k (chunk id, score) per query; only ids in `allowed` when it is given.

        Documents sharing no term with the query score 0 and are left out.
        """
        if not self.ids:
            return [[] for _ in queries]
        mask: np.ndarray | None = None
        if allowed is not None:
            mask = np.fromiter((i in allowed for i in self.ids), dtype=bool, count=len(self.ids))
        tokenized = bm25s.tokenize(
            list(queries),
            stopwords="en",
            stemmer=self.stemmer,
            return_ids=False,
            show_progress=False,
        )
        vocab = self.retriever.vocab_dict
        out: list[list[tuple[str, float]]] = []
        for tokens in tokenized:
            known = [t for t in tokens if t in vocab]
            if not known:
                out.append([])
                continue
            scores = np.asarray(self.retriever.get_scores(known), dtype=np.float32)
            if mask is not None:
                scores = np.where(mask, scores, 0.0)
            top = _top_k(scores, k)
            out.append([(self.ids[i], float(scores[i])) for i in top if scores[i] > 0])
        return out


def _remove_superseded(directory: Path, keep: str) -> None:
    """Delete index folders other than `keep` that are older than STALE_AFTER_S.

    Why not at once: another process may have read the pointer a moment ago and be
    loading the folder it named.
    """
    cutoff = time.time() - STALE_AFTER_S
    for old in directory.parent.glob(f"{directory.name}.*"):
        if old.name == keep or old.suffix == ".ptr":
            continue
        try:
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        except FileNotFoundError:
            pass  # another writer removed it


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first (stable on ties)."""
    k = min(k, scores.shape[0])
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.lexsort((part, -scores[part]))]
