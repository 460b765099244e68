"""Pipeline variants for `eval answers`: built-in ones by name, others from settings files.

`plain` is the chain every agent must beat: retrieve → generate, nothing in
between; `default` is the shipped graph. A built-in variant is layered over the
base settings, so both see the same retrieval, engine and generate settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rankgraph.config import Settings, load_settings
from rankgraph.errors import ConfigError

# The plain chain every agent must beat: retrieve → generate, nothing in between.
BUILTIN_VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {
        "rewrite": {"mode": "off"},
        "rerank": {"method": "none"},
        "filter": {"mode": "off"},
        "loop": {"max_rounds": 1},
    },
    "default": {},
}


@dataclass(frozen=True)
class Variant:
    name: str
    settings: Settings


def variants(base: Settings, names: Sequence[str], configs: Sequence[Path]) -> list[Variant]:
    """Built-in variants by name (over `base`), then one per settings file (named by stem)."""
    out: list[Variant] = []
    for name in names:
        if name not in BUILTIN_VARIANTS:
            raise ConfigError(
                f"unknown variant {name!r}: built-ins are {', '.join(BUILTIN_VARIANTS)}; "
                "pass other configurations as --config FILE.toml"
            )
        pipeline = base.pipeline.merged(BUILTIN_VARIANTS[name])
        out.append(Variant(name, base.with_pipeline(pipeline)))
    for path in configs:
        out.append(Variant(path.stem, load_settings(path)))
    seen = [v.name for v in out]
    if len(set(seen)) != len(seen):
        raise ConfigError(f"variant names must differ: {seen}")
    if not out:
        raise ConfigError("no variant to run: pass --variant NAME or --config FILE")
    return out
