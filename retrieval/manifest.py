"""Which source files are fully indexed, and at which content hash.

The collection is the truth (chunk ids are content-addressed); the manifest is a cache
that lets re-indexing skip unchanged files without reading and chunking them. A file's
row is written only after all its chunks are stored, so an interrupted run simply
redoes that file, and the chunks already stored are not embedded again.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path


class Manifest:
    """A small SQLite table: source path -> (content hash, chunk count)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS sources ("
                "source TEXT PRIMARY KEY, hash TEXT NOT NULL, chunks INTEGER NOT NULL, "
                "indexed_at REAL NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def hash_of(self, source: str) -> str | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT hash FROM sources WHERE source = ?", (source,)).fetchone()
        return None if row is None else str(row[0])

    def record(self, source: str, digest: str, chunks: int) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?)",
                (source, digest, chunks, time.time()),
            )

    def forget(self, source: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM sources WHERE source = ?", (source,))

    def sources(self) -> set[str]:
        with closing(self._connect()) as db:
            return {str(row[0]) for row in db.execute("SELECT source FROM sources")}
