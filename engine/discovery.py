"""Which running engine a client should use when no endpoint is configured.

Why: after `rankgraph engine start --preset qwen2.5-1.5b`, `rankgraph ask` with
the default settings must find that engine instead of saying "no endpoint".
Every engine rankgraph starts leaves a run record (state.py); the records whose
process still lives are the running engines.
"""

from __future__ import annotations

import logging

from rankgraph.config import Settings
from rankgraph.engine.process import group_alive, served_models
from rankgraph.engine.state import EngineState, read_record, read_state, run_dir
from rankgraph.errors import LLMUnavailable

log = logging.getLogger(__name__)

STATUS_TIMEOUT_S = 10.0
# Settings that name one engine; when any is set, no other engine is picked for it.
CHOOSING_FIELDS = frozenset({"kind", "preset", "model"})


def is_live(state: EngineState) -> bool:
    """Cheap check: the engine's process group lives (always true for kind=external)."""
    return state.pid is None or group_alive(state.pid)


def answers(state: EngineState, timeout_s: float = STATUS_TIMEOUT_S) -> bool:
    """Every endpoint of the engine lists its model (a live process that answers)."""
    if state.pid is not None and not group_alive(state.pid):
        return False
    for url in state.endpoints():
        # Generous: a busy 2-core box can take seconds to answer even /models.
        models = served_models(url, timeout_s=timeout_s, headers=state.headers())
        if models is None or state.model not in models:
            return False
    return True


def running_engines(settings: Settings) -> list[EngineState]:
    """The records of every engine whose process lives, whatever its kind or preset."""
    records = (read_record(path) for path in sorted(run_dir(settings).glob("*.json")))
    return [state for state in records if state is not None and is_live(state)]


def describe(state: EngineState) -> str:
    """One line naming an engine, e.g. `embedded qwen2.5-0.5b at http://…/v1 (pid 12)`."""
    pid = f" (pid {state.pid})" if state.pid is not None else ""
    return f"{state.kind} {state.model} at {state.base_url}{pid}"


def start_command(settings: Settings) -> str:
    """The command that starts the engine `settings` name, for error messages.

    >>> start_command(Settings(engine={"kind": "llamacpp", "preset": "qwen2.5-0.5b"}))
    'rankgraph engine start --preset qwen2.5-0.5b --kind llamacpp'
    """
    engine = settings.engine
    kind = "" if engine.kind == "embedded" else f" --kind {engine.kind}"
    return f"rankgraph engine start --preset {engine.preset}{kind}"


def find_engine(settings: Settings) -> EngineState | None:
    """The running engine the LLM client should use, or None when none runs.

    The configured engine (kind + preset) if it runs. Otherwise, if the settings
    do not name an engine and exactly one runs, that one (logged, so the user
    sees which). Several, or a named engine that does not run while others do,
    is an LLMUnavailable saying how to choose.
    """
    own = read_state(settings)
    if own is not None and is_live(own):
        return own
    others = running_engines(settings)
    if not others:
        return None
    listing = "; ".join(describe(state) for state in others)
    chosen = sorted(CHOOSING_FIELDS & settings.engine.model_fields_set)
    if chosen:
        engine = settings.engine
        raise LLMUnavailable(
            f"the configured {engine.kind} engine ({engine.model or engine.preset}) does not "
            f"run, other engines do: {listing}. Start it with `{start_command(settings)}`, "
            f"or unset engine.{', engine.'.join(chosen)} to use a running one"
        )
    if len(others) > 1:
        presets = ", ".join(sorted({state.preset or state.model for state in others}))
        raise LLMUnavailable(
            f"{len(others)} engines run: {listing}. Choose one with "
            f"RANKGRAPH_ENGINE__PRESET=<{presets}> (and RANKGRAPH_ENGINE__KIND when it is "
            "not embedded), or engine.preset / engine.kind in rankgraph.toml"
        )
    log.warning("no engine configured: using the running engine %s", describe(others[0]))
    return others[0]
