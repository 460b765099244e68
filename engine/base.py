"""The launcher protocol: one module per engine kind implements it.

A launcher knows how to install its environment and how to bring a server up;
everything shared (state file, locking, stop, status, logs) lives in api.py, so
a new kind is one new module and one line in its registry.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

from rankgraph.config import Settings
from rankgraph.engine.layout import EngineLayout
from rankgraph.engine.process import (
    check_port_free,
    free_port,
    kill_group,
    spawn_detached,
    wait_ready,
)
from rankgraph.engine.state import EngineState, state_path


class Launcher(Protocol):
    """Installs and starts one kind of engine."""

    kind: str

    def install(self, settings: Settings) -> None:
        """Make `start` possible offline: environment, model files (idempotent)."""
        ...

    def start(self, settings: Settings) -> EngineState:
        """Bring the server up and return its record; the caller writes it."""
        ...


def run_name(settings: Settings) -> str:
    """The name shared by a run's state file, log and lock (`<kind>-<preset>`)."""
    return state_path(settings).stem


def pick_port(settings: Settings) -> int:
    """engine.port if it is free (EngineError otherwise), else any free port."""
    host, port = settings.engine.host, settings.engine.port
    if port is None:
        return free_port(host)
    check_port_free(host, port)
    return port


def serve(
    settings: Settings,
    *,
    command: Sequence[str],
    env: Mapping[str, str],
    port: int,
    model: str,
    what: str,
    key_env: str,
) -> EngineState:
    """Spawn `command` detached, wait until it serves `model`, return its record.

    The server gets a fresh random API key through the environment variable
    `key_env` (never argv, which every local user can read in /proc); the key
    is kept in the returned record, so only rankgraph (the record's owner) knows it.
    """
    layout = EngineLayout.of(settings)
    log_path = layout.log(run_name(settings))
    api_key = secrets.token_urlsafe(32)
    proc = spawn_detached(command, {**os.environ, **env, key_env: api_key}, log_path)
    state = EngineState(
        kind=settings.engine.kind,
        preset=settings.engine.preset,
        model=model,
        base_url=f"http://{settings.engine.host}:{port}/v1",
        pid=proc.pid,
        port=port,
        log_path=str(log_path),
        started_at=time.time(),
        api_key=api_key,
    )
    try:
        wait_ready(
            proc,
            state.base_url,
            model,
            timeout_s=settings.engine.start_timeout_s,
            log_path=log_path,
            what=what,
            headers=state.headers(),
        )
    except BaseException:
        # Ctrl-C or a failed start must not leave an engine running with no record.
        kill_group(proc.pid, grace_s=5.0)
        raise
    return state
