"""The record of a running engine, written by `rankgraph engine start` and read by
the LLM client to find its endpoint."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field

from rankgraph.config import Settings


class EngineState(BaseModel):
    kind: str
    preset: str | None = None
    model: str  # the served model name clients must send
    base_url: str  # e.g. http://127.0.0.1:8123/v1
    pid: int | None = None
    port: int | None = None
    log_path: str | None = None
    started_at: float | None = None
    # kind=external may list several servers; base_url is always the first.
    base_urls: list[str] = Field(default_factory=list)
    # Started by `engine.hold` (tests): stopped when the last holder leaves.
    auto_stop: bool = False

    def endpoints(self) -> list[str]:
        """Every base URL the client may spread requests over (at least `base_url`)."""
        return list(self.base_urls) or [self.base_url]


def state_path(settings: Settings) -> Path:
    """One record per engine kind and preset, so a test engine (smollm2) and a
    benchmark engine (qwen) can run side by side without clobbering each other."""
    engine = settings.engine
    name = engine.preset if engine.kind in {"embedded", "llamacpp"} else (engine.model or "any")
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in name)
    return settings.engine_dir / "run" / f"{engine.kind}-{safe}.json"


def read_state(settings: Settings) -> EngineState | None:
    path = state_path(settings)
    if not path.is_file():
        return None
    return EngineState.model_validate(json.loads(path.read_text(encoding="utf-8")))


def write_state(settings: Settings, state: EngineState) -> None:
    path = state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(state.model_dump_json(indent=2), encoding="utf-8")


def clear_state(settings: Settings) -> None:
    state_path(settings).unlink(missing_ok=True)
