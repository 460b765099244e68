"""Run records: what the trace page and `GET /v1/traces/{id}` show, one JSON file per
run under `data_dir/traces`, kept newest first up to a count and an age.

A failed or cancelled run is stored too, with the partial trace and the error, since
those are the runs a person most needs to read.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from rankgraph.agents.answer import Answer
from rankgraph.schema import Passage
from rankgraph.trace import TraceEvent

_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


class RunRecord(BaseModel):
    """One served run: a chat answer (or its failure) or a rerank call."""

    id: str
    kind: Literal["chat", "rerank"]
    status: Literal["ok", "error", "cancelled"] = "ok"
    created: float = Field(default_factory=time.time)
    model: str
    question: str
    history: list[dict[str, str]] = Field(default_factory=list)
    thread_id: str | None = None
    error: str | None = None
    answer: Answer | None = None  # chat: stored without its trace (that is `trace`)
    documents: list[Passage] = Field(default_factory=list)  # rerank: the input, in order
    trace: list[TraceEvent] = Field(default_factory=list)
    node_ms: dict[str, float] = Field(default_factory=dict)
    wall_ms: float = 0.0


class TraceStore:
    """JSON files named by run id; `save` prunes to the retention limits."""

    def __init__(self, root: Path, *, max_count: int, max_age_days: float) -> None:
        self.root = root
        self.max_count = max_count
        self.max_age_s = max_age_days * 86400
        root.mkdir(parents=True, exist_ok=True)

    def path(self, run_id: str) -> Path | None:
        return self.root / f"{run_id}.json" if _ID.match(run_id) else None

    async def save(self, record: RunRecord) -> None:
        await asyncio.to_thread(self._save, record)

    async def get(self, run_id: str) -> RunRecord | None:
        return await asyncio.to_thread(self._get, run_id)

    def _save(self, record: RunRecord) -> None:
        path = self.path(record.id)
        assert path is not None, record.id
        tmp = path.with_suffix(".tmp")
        tmp.write_text(record.model_dump_json(), encoding="utf-8")
        os.replace(tmp, path)  # readers never see half a file
        self.prune()

    def _get(self, run_id: str) -> RunRecord | None:
        path = self.path(run_id)
        if path is None or not path.is_file():
            return None
        return RunRecord.model_validate_json(path.read_text(encoding="utf-8"))

    def prune(self, now: float | None = None) -> int:
        """Drop traces past the age limit and all but the newest `max_count`; returns how many."""
        now = time.time() if now is None else now
        entries: list[tuple[float, Path]] = []
        for entry in os.scandir(self.root):
            if entry.name.endswith(".json"):
                entries.append((entry.stat().st_mtime, Path(entry.path)))
        entries.sort(reverse=True)  # newest first
        doomed = [
            path
            for rank, (mtime, path) in enumerate(entries)
            if rank >= self.max_count or now - mtime > self.max_age_s
        ]
        for path in doomed:
            path.unlink(missing_ok=True)
        return len(doomed)
