"""The engine API: install, start, stop, status, status_all, ensure_running, hold, logs.

Dispatches on `settings.engine.kind` to one launcher per kind and owns what is
shared: the run record (state.py), a per-run file lock so two callers (a test
session and a CLI) never start the same engine twice, liveness checks, stop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType

from rankgraph.config import Settings
from rankgraph.engine.base import Launcher, run_name
from rankgraph.engine.discovery import answers, running_engines
from rankgraph.engine.embedded import EmbeddedLauncher
from rankgraph.engine.external import ExternalLauncher
from rankgraph.engine.layout import EngineLayout
from rankgraph.engine.llamacpp import LlamaCppLauncher
from rankgraph.engine.locks import exclusive
from rankgraph.engine.presets import get_preset
from rankgraph.engine.process import group_alive, kill_group, pid_alive, tail
from rankgraph.engine.state import EngineState, clear_state, read_state, write_state
from rankgraph.engine.vllm_gpu import VllmGpuLauncher
from rankgraph.errors import EngineError

log = logging.getLogger(__name__)

LAUNCHERS: Mapping[str, Launcher] = MappingProxyType(
    {
        "embedded": EmbeddedLauncher(),
        "llamacpp": LlamaCppLauncher(),
        "vllm": VllmGpuLauncher(),
        "external": ExternalLauncher(),
    }
)


def launcher_for(settings: Settings) -> Launcher:
    kind = settings.engine.kind
    try:
        return LAUNCHERS[kind]
    except KeyError:
        raise EngineError(f"unknown engine kind {kind!r}: one of {', '.join(LAUNCHERS)}") from None


def install(settings: Settings) -> None:
    """Install the engine environment and model files for the configured kind/preset.

    Idempotent: what is present and usable is kept, so it is cheap to run again.
    """
    with _run_lock(settings):
        launcher_for(settings).install(settings)


def status(settings: Settings) -> EngineState | None:
    """The configured engine's record if its process is alive and it answers.

    Read-only: a stale record is reported as None but left for `start`/`stop`.
    """
    state = read_state(settings)
    return state if state is not None and answers(state) else None


def status_all(settings: Settings) -> list[EngineState]:
    """Every engine (any kind or preset) whose process lives and answers."""
    return [state for state in running_engines(settings) if answers(state)]


def start(settings: Settings) -> EngineState:
    """Start the configured engine and record it; EngineError if it already runs.

    `ensure_running` is the idempotent twin (what `rankgraph engine start` uses).
    """
    with _run_lock(settings):
        return _start_unlocked(settings)


def ensure_running(settings: Settings) -> tuple[EngineState, bool]:
    """The running engine, started first if needed; the bool says "started by this call"."""
    with _run_lock(settings):
        running = status(settings)
        if running is not None:
            return running, False
        return _start_unlocked(settings), True


@contextmanager
def hold(settings: Settings) -> Iterator[EngineState]:
    """Use the engine for the duration of a block, shared with other processes.

    Starts it if needed. On exit it is stopped only if a `hold` started it and no
    other live process still holds it: a test session never stops an engine a
    person started with `rankgraph engine start`, nor one another session uses.
    """
    holders = _holders_dir(settings)
    with _run_lock(settings):
        state = status(settings)
        if state is None:
            state = _start_unlocked(settings, auto_stop=True)
        holders.mkdir(parents=True, exist_ok=True)
        (holders / str(os.getpid())).touch()
    try:
        yield state
    finally:
        with _run_lock(settings):
            (holders / str(os.getpid())).unlink(missing_ok=True)
            live = [p for p in holders.iterdir() if p.name.isdigit() and pid_alive(int(p.name))]
            current = read_state(settings)
            if not live and current is not None and current.auto_stop:
                stop(settings)


def stop(settings: Settings) -> bool:
    """Stop the configured engine (its whole process group) and drop its record.

    The group is killed even when its leader already died, so no helper process
    (engine core, resource tracker) outlives the record. Returns False when
    nothing was running. kind=external only forgets the URLs.
    """
    state = read_state(settings)
    if state is None:
        return False
    stopped = True
    if state.pid is not None:
        stopped = group_alive(state.pid) and kill_group(state.pid)
    clear_state(settings)
    return stopped


def logs(settings: Settings, lines: int = 50) -> str:
    """The last `lines` lines of the configured engine's server log."""
    state = read_state(settings)
    if state is not None and state.log_path:
        path = Path(state.log_path)
    else:
        path = EngineLayout.of(settings).log(run_name(settings))
    if not path.is_file():
        raise EngineError(
            f"no engine log at {path}: start the engine with `rankgraph engine start`"
        )
    return tail(path, lines)


def _start_unlocked(settings: Settings, *, auto_stop: bool = False) -> EngineState:
    previous = read_state(settings)
    if previous is not None:
        if status(settings) is not None:
            raise EngineError(
                f"the {previous.kind} engine ({previous.model}) already runs at "
                f"{previous.base_url} (pid {previous.pid}): use it, or run "
                "`rankgraph engine stop` first"
            )
        if previous.pid is not None and group_alive(previous.pid):
            raise EngineError(
                f"engine process group {previous.pid} is alive but does not answer on "
                f"{previous.base_url}: see `rankgraph engine logs`, then `rankgraph engine stop`"
            )
        log.info("dropping the record of a dead engine (pid %s)", previous.pid)
        clear_state(settings)
    state = launcher_for(settings).start(settings).model_copy(update={"auto_stop": auto_stop})
    write_state(settings, state)
    log.info("%s engine serving %s at %s", state.kind, state.model, state.base_url)
    return state


def _holders_dir(settings: Settings) -> Path:
    """One empty file per process id currently inside `hold` for this run."""
    return EngineLayout.of(settings).root / "run" / f"{run_name(settings)}.holders"


@contextmanager
def _run_lock(settings: Settings) -> Iterator[None]:
    """An exclusive lock per run record, held while checking and starting."""
    if settings.engine.kind != "external" and settings.engine.model is None:
        get_preset(settings.engine.preset)  # a typo fails before any file is made
    name = run_name(settings)
    waiting = f"another process is installing, starting or stopping engine {name}; waiting"
    with exclusive(EngineLayout.of(settings).lock(name), waiting):
        yield
