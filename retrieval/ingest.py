"""Index files and directories into a `Store`, idempotently and resumably.

- Unchanged files (same content hash as the manifest records) are skipped unread.
  The recorded hash also covers how a file becomes chunks (`Chunker.signature`: the
  loaders' version and the chunk sizes), so after an upgrade that reads a format
  differently, or with new chunk sizes, re-indexing re-reads every file.
- A changed file is re-chunked; chunks whose ids already exist are kept (no
  re-embedding), new ones are embedded in batches, and its chunks that no longer
  occur are deleted.
- `sync=True` makes the collection mirror exactly `paths`: chunks of files that are not
  found under them any more are dropped. A sync that finds no file at all (an empty
  folder, an unmounted mount point) would empty the collection: it is refused unless
  `force=True`.
- Entries that cannot be indexed are skipped and reported, never fatal: broken and
  looping symlinks, unreadable files, special files (FIFOs, sockets). Symlinks that
  lead out of the indexed tree are not followed unless `follow_symlinks=True`, so a
  link to /etc/passwd in a shared folder does not end up in the index.
- Every batch is written as soon as it is full; a file is recorded as done only after
  all its chunks are stored, so an interrupted run leaves a usable store and the next
  run finishes the job.
"""

from __future__ import annotations

import errno
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

    def skip(self, where: str, why: str) -> None:
        self.skipped.append((where, why))
        log.info("%s: skipped: %s", where, why)

    def note(self, note: Note) -> None:
        # info, not warning: the report carries it, and `rankgraph index` prints the
        # report's lines once (a warning here printed each problem twice)
        (self.skipped if note.skipped else self.warnings).append((note.where, note.message))
        log.info("%s: %s", note.where, note.message)


def index_paths(
    store: Store,
    paths: Sequence[Path | str],
    *,
    sync: bool = False,
    chunk_tokens: int = _DEFAULTS.chunk_tokens,
    chunk_overlap: int = _DEFAULTS.chunk_overlap,
    write_batch: int = _DEFAULTS.write_batch,
    progress: bool = False,
    follow_symlinks: bool = False,
    force: bool = False,
) -> IngestReport:
    """Index `paths` (files or directories, recursed) into `store`.

    Raises IngestError before touching the store if a path does not exist (with
    `sync`, a mistyped path would otherwise drop everything indexed from it), or if
    `sync` finds no file while the collection holds chunks and `force` is not set.
    """
    roots = [Path(p).expanduser() for p in paths]
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        raise IngestError(f"path not found: {', '.join(missing)}: check the spelling")
    if not roots:
        raise IngestError("no paths given: pass files or directories to index")
    started = time.perf_counter()
    tally = _Tally([], [], [], [], [], [])
    files = list(_walk(roots, tally, follow_symlinks))
    if sync and not files and not force and (stored := store.count()):
        raise IngestError(
            f"--sync found no file to index under {', '.join(map(str, roots))} and would "
            f"remove all {stored} chunks of collection {store.name!r}; if that folder is meant "
            "to be empty (not an unmounted drive), pass --force"
        )
    chunker = Chunker(store.embedder, chunk_tokens, chunk_overlap)
    store.collection(create=True)
    manifest = store.manifest()
    with _progress(progress) as bar:
        task = bar.add_task("indexing", total=sum(f.stat().st_size for f in files))
        for path in files:
            try:
                _index_file(store, manifest, chunker, path, tally, write_batch, bar, task)
            except OSError as exc:  # vanished or unreadable since the walk
                tally.skip(str(path), f"cannot read: {exc.strerror or exc}")
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


def _walk(roots: Sequence[Path], tally: _Tally, follow_symlinks: bool) -> Iterator[Path]:
    """Indexable files under `roots`, sorted, hidden files and folders left out.

    Roots named explicitly are followed even when they are symlinks; entries found
    inside them are checked by `_admit`.
    """
    emitted: set[Path] = set()
    inside = [root.resolve() for root in roots]
    for root in roots:
        if root.is_file():
            candidates: Iterator[Path] = iter([root])
        else:
            candidates = (
                Path(dirpath) / name
                for dirpath, _dirnames, filenames in _sorted_walk(
                    root, inside, follow_symlinks, tally
                )
                for name in filenames
                if not name.startswith(".")
            )
        for path in candidates:
            resolved = (
                root.resolve() if path == root else _admit(path, inside, follow_symlinks, tally)
            )
            if resolved is None or resolved in emitted:
                continue
            emitted.add(resolved)
            if path.suffix.lower() not in SUFFIXES:
                tally.skip(str(path), f"unsupported file type {path.suffix!r}")
            else:
                yield path


def _within(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _admit(path: Path, roots: Sequence[Path], follow_symlinks: bool, tally: _Tally) -> Path | None:
    """The real path of a walked entry, or None (and a skip note) if it must be left out."""
    try:
        resolved = path.resolve(strict=True)
    except FileNotFoundError:
        tally.skip(str(path), f"broken symlink (to {_link_target(path)})")
        return None
    except RuntimeError:  # Python < 3.13 reports a symlink loop this way
        tally.skip(str(path), "symlink loop")
        return None
    except OSError as exc:
        why = "symlink loop" if exc.errno == errno.ELOOP else f"cannot resolve: {exc.strerror}"
        tally.skip(str(path), why)
        return None
    if not follow_symlinks and not _within(resolved, roots):
        tally.skip(
            str(path),
            f"symlink to {resolved}, outside the indexed folders (pass --follow-symlinks to "
            "index it)",
        )
        return None
    if not resolved.is_file():
        tally.skip(str(path), "not a regular file (FIFO, socket or device)")
        return None
    if not os.access(resolved, os.R_OK):
        tally.skip(str(path), "cannot read: permission denied")
        return None
    return resolved


def _link_target(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _sorted_walk(
    root: Path, roots: Sequence[Path], follow_symlinks: bool, tally: _Tally
) -> Iterator[tuple[str, list[str], list[str]]]:
    """`os.walk`, sorted; unreadable folders reported; linked folders followed only if asked.

    With `follow_symlinks`, each real folder is visited once, so a link loop ends.
    """
    visited: set[str] = set()

    def unreadable(exc: OSError) -> None:
        tally.skip(str(exc.filename), f"cannot list folder: {exc.strerror}")

    for dirpath, dirnames, filenames in os.walk(
        root, onerror=unreadable, followlinks=follow_symlinks
    ):
        real = os.path.realpath(dirpath)
        if real in visited:
            dirnames[:] = []
            continue
        visited.add(real)
        kept = []
        for name in sorted(d for d in dirnames if not d.startswith(".")):
            sub = Path(dirpath) / name
            if not follow_symlinks and sub.is_symlink() and not _within(sub.resolve(), roots):
                tally.skip(
                    str(sub),
                    f"symlinked folder to {sub.resolve()}, outside the indexed folders "
                    "(pass --follow-symlinks to index it)",
                )
                continue
            kept.append(name)
        dirnames[:] = kept
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
    digest = f"{_file_digest(path)}:{chunker.signature}"
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
