"""kind=vllm: `vllm serve MODEL` on a GPU machine, from the project's own env.

On a GPU box the regular `vllm` package (the `gpu` extra) is installed next to
rankgraph, so no private venv: the `vllm` console script beside this interpreter
is used. MODEL is `engine.model` (a HF id or local path); without it the preset
is converted to a HF folder with this interpreter (vllm brings torch,
transformers and gguf).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

from rankgraph.config import Settings
from rankgraph.engine.base import pick_port, serve
from rankgraph.engine.guard import VLLM_KEY_ENV, vllm_guard_args, vllm_guard_env
from rankgraph.engine.layout import EngineLayout
from rankgraph.engine.models import ensure_hf
from rankgraph.engine.presets import get_preset
from rankgraph.engine.state import EngineState
from rankgraph.engine.venvs import run_logged
from rankgraph.errors import EngineError


def vllm_executable() -> Path:
    """The `vllm` script of this environment (or on PATH), or EngineError with the fix."""
    beside = Path(sys.executable).with_name("vllm")
    if beside.is_file():
        return beside
    found = shutil.which("vllm")
    if found is None:
        raise EngineError(
            "kind=vllm needs the `vllm` package in this environment: "
            "run `rankgraph engine install --kind vllm` or `pip install 'rankgraph[gpu]'`"
        )
    return Path(found)


class VllmGpuLauncher:
    """`vllm serve` for GPU machines; same OpenAI API as the embedded engine."""

    kind = "vllm"

    def install(self, settings: Settings) -> None:
        if importlib.util.find_spec("vllm") is None:
            run_logged(
                [sys.executable, "-m", "pip", "install", "vllm"],
                EngineLayout.of(settings).install_log("vllm"),
                "vllm needs a CUDA machine; on CPU use kind=embedded",
            )
        if settings.engine.model is None:
            ensure_hf(settings, get_preset(settings.engine.preset), Path(sys.executable))

    def start(self, settings: Settings) -> EngineState:
        engine = settings.engine
        executable = vllm_executable()
        if engine.model is not None:
            model, name = engine.model, engine.model
        else:
            preset = get_preset(engine.preset)
            model, name = str(ensure_hf(settings, preset, Path(sys.executable))), preset.name
        port = pick_port(settings)
        command = [
            str(executable), "serve", model,
            "--served-model-name", name,
            "--host", engine.host,
            "--port", str(port),
            "--max-model-len", str(engine.max_model_len),
            "--max-logprobs", str(engine.max_logprobs),
            "--enable-prefix-caching",
            *vllm_guard_args(),
            *engine.extra_args,
        ]  # fmt: skip
        return serve(
            settings,
            command=command,
            env={"VLLM_NO_USAGE_STATS": "1", **vllm_guard_env()},
            port=port,
            model=name,
            what=f"vllm serve ({name})",
            key_env=VLLM_KEY_ENV,
        )
