"""Index files and directories into a `Store`, idempotently and resumably.

- Unchanged files (same content hash as the manifest records) are skipped unread.
- A changed file is re-chunked; chunks whose ids already exist are kept (no
  re-embedding), new ones are embedded in batches, and its chunks that no longer
  occur are deleted.
- `sync=True` makes the collection mirror exactly `paths`: chunks of files that are not
  found under them any more are dropped.
- Every batch is written as soon as it is full; a file is recorded as done only after
  all its chunks are stored, so an interrupted run leaves a usable store and the next
  run finishes the job.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from rankgraph.config import RetrievalSettings
from rankgraph.errors import IngestError
from rankgraph.retrieval.chunking import Chunker
from rankgraph.retrieval.loaders import SUFFIXES, Note, load
from rankgraph.retrieval.manifest import Manifest
from rankgraph.retrieval.store import Chunk, Store, chunk_metadata

log = logging.getLogger(__name__)
_DEFAULTS = RetrievalSettings()


@dataclass(frozen=True)
class IngestReport:
    """What an index run did, per source file, plus chunk counts and problems."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (where, why): content left out
    warnings: tuple[tuple[str, str], ...] = ()  # (where, what): content kept, but altered
    documents: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0
    total_chunks: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.chunks_added or self.chunks_removed or self.removed)


@dataclass
class _Tally:
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    removed: list[str]
    skipped: list[tuple[str, str]]
    warnings: list[tuple[str, str]]
    documents: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0

    def note(self, note: Note) -> None:
        (self.skipped if note.skipped else self.warnings).append((note.where, note.message))
        log.warning("%s: %s", note.where, note.message)


def index_paths(
    store: Store,
    paths: Sequence[Path | str],
    *,
    sync: bool = False,
    chunk_tokens: int = _DEFAULTS.chunk_tokens,
    chunk_overlap: int = _DEFAULTS.chunk_overlap,
    write_batch: int = _DEFAULTS.write_batch,
    progress: bool = False,
) -> IngestReport:
    """Index `paths` (files or directories, recursed) into `store`.

    Raises IngestError before touching the store if a path does not exist (with
    `sync`, a mistyped path would otherwise drop everything indexed from it).
    """
    roots = [Path(p).expanduser() for p in paths]
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        raise IngestError(f"path not found: {', '.join(missing)}: check the spelling")
    if not roots:
        raise IngestError("no paths given: pass files or directories to index")
    started = time.perf_counter()
    tally = _Tally([], [], [], [], [], [])
    files = list(_walk(roots, tally))
    chunker = Chunker(store.embedder, chunk_tokens, chunk_overlap)
    store.collection(create=True)
    manifest = store.manifest()
    with _progress(progress) as bar:
        task = bar.add_task("indexing", total=sum(f.stat().st_size for f in files))
        for path in files:
            _index_file(store, manifest, chunker, path, tally, write_batch, bar, task)
    seen = {str(f.resolve()) for f in files}
    if sync:
        for source in sorted((store.sources() | manifest.sources()) - seen):
            tally.chunks_removed += _drop_source(store, manifest, source)
            tally.removed.append(source)
    if store.count():
        store.bm25_index()  # rebuild now, so the first search does not pay for it
    return IngestReport(
        added=tuple(tally.added),
        updated=tuple(tally.updated),
        unchanged=tuple(tally.unchanged),
        removed=tuple(tally.removed),
        skipped=tuple(tally.skipped),
        warnings=tuple(tally.warnings),
        documents=tally.documents,
        chunks_added=tally.chunks_added,
        chunks_removed=tally.chunks_removed,
        seconds=time.perf_counter() - started,
        total_chunks=store.count(),
    )


def _walk(roots: Sequence[Path], tally: _Tally) -> Iterator[Path]:
    """Supported files under `roots`, sorted, hidden files and folders left out."""
    emitted: set[Path] = set()
    for root in roots:
        if root.is_file():
            candidates: Iterator[Path] = iter([root])
        else:
            candidates = (
                Path(dirpath) / name
                for dirpath, dirnames, filenames in _sorted_walk(root)
                for name in filenames
                if not name.startswith(".")
            )
        for path in candidates:
            resolved = path.resolve()
            if resolved in emitted:
                continue
            emitted.add(resolved)
            if path.suffix.lower() not in SUFFIXES:
                tally.skipped.append((str(path), f"unsupported file type {path.suffix!r}"))
            else:
                yield path


def _sorted_walk(root: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        yield dirpath, dirnames, sorted(filenames)


def _index_file(
    store: Store,
    manifest: Manifest,
    chunker: Chunker,
    path: Path,
    tally: _Tally,
    write_batch: int,
    bar: Progress,
    task: TaskID,
) -> None:
    source = str(path.resolve())
    size = path.stat().st_size
    digest = _file_digest(path)
    recorded = manifest.hash_of(source)
    if recorded == digest:
        tally.unchanged.append(source)
        bar.advance(task, size)
        return
    before = store.ids_where({"source": source})
    kept: set[str] = set()
    seen: Counter[str] = Counter()
    pending: list[Chunk] = []
    added = 0
    consumed = 0
    for item in load(path):
        if isinstance(item, Note):
            tally.note(item)
            continue
        tally.documents += 1
        for chunk in chunker.chunks(source, item, seen):
            kept.add(chunk.id)
            pending.append(chunk)
            if len(pending) >= write_batch:
                added += _flush(store, pending)
                pending = []
        bar.advance(task, item.position - consumed)
        consumed = item.position
    added += _flush(store, pending)
    bar.advance(task, size - consumed)
    stale = sorted(before - kept)
    store.delete(stale)
    tally.chunks_added += added
    tally.chunks_removed += len(stale)
    if not kept:
        manifest.forget(source)
        if before:
            tally.removed.append(source)
        return
    manifest.record(source, digest, len(kept))
    if before and not (added or stale):
        tally.unchanged.append(source)  # e.g. the manifest was lost, the chunks were not
    elif recorded is None:
        tally.added.append(source)  # new, or finishing an interrupted first run
    else:
        tally.updated.append(source)


def _flush(store: Store, batch: list[Chunk]) -> int:
    """Store one batch: embed only new chunks, refresh metadata of moved ones."""
    if not batch:
        return 0
    stored = store.stored_metadata([c.id for c in batch])
    new = [c for c in batch if c.id not in stored]
    moved = [c for c in batch if c.id in stored and stored[c.id] != chunk_metadata(c)]
    store.add(new)
    store.update_metadata(moved)
    return len(new)


def _drop_source(store: Store, manifest: Manifest, source: str) -> int:
    ids = sorted(store.ids_where({"source": source}))
    store.delete(ids)
    manifest.forget(source)
    return len(ids)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
