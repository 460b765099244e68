"""The record of a running engine, written by `rankgraph engine start` and read by
the LLM client to find its endpoint and the key it must send.

Why 0600: the record holds the engine's per-start API key; only the user who
started the engine (and so may use it) can read it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, Field

from rankgraph.choices import PRESET_KINDS
from rankgraph.config import Settings

RECORD_MODE = 0o600


class EngineState(BaseModel):
    kind: str
    preset: str | None = None
    model: str  # the served model name clients must send
    base_url: str  # e.g. http://127.0.0.1:8123/v1
    pid: int | None = None  # also the id of the server's process group
    port: int | None = None
    log_path: str | None = None
    started_at: float | None = None
    # kind=external may list several servers; base_url is always the first.
    base_urls: list[str] = Field(default_factory=list)
    # Started by `engine.hold` (tests): stopped when the last holder leaves.
    auto_stop: bool = False
    # Random per start (engines rankgraph starts); the server rejects requests without it.
    api_key: str | None = Field(default=None, repr=False)

    def endpoints(self) -> list[str]:
        """Every base URL the client may spread requests over (at least `base_url`)."""
        return list(self.base_urls) or [self.base_url]

    def headers(self) -> dict[str, str]:
        """HTTP headers a request to this engine needs (the bearer key, if any)."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def public(self) -> dict[str, object]:
        """The record without its key, for printing (`engine status --json`)."""
        return self.model_dump(exclude={"api_key"})


def state_path(settings: Settings) -> Path:
    """One record per engine kind and preset, so a test engine (smollm2) and a
    benchmark engine (qwen) can run side by side without clobbering each other."""
    engine = settings.engine
    name = engine.preset if engine.kind in PRESET_KINDS else (engine.model or "any")
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in name)
    return run_dir(settings) / f"{engine.kind}-{safe}.json"


def run_dir(settings: Settings) -> Path:
    """Where every engine's run record lives (one `<kind>-<name>.json` each)."""
    return settings.engine_dir / "run"


def read_state(settings: Settings) -> EngineState | None:
    return read_record(state_path(settings))


def read_record(path: Path) -> EngineState | None:
    """The record in `path`, or None when there is none."""
    if not path.is_file():
        return None
    return EngineState.model_validate(json.loads(path.read_text(encoding="utf-8")))


def write_state(settings: Settings, state: EngineState) -> None:
    """Write the record readable by its owner only, replacing any old one atomically."""
    path = state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, RECORD_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(state.model_dump_json(indent=2))
    os.replace(partial, path)


def clear_state(settings: Settings) -> None:
    state_path(settings).unlink(missing_ok=True)
