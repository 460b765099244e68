"""Validation of method options: a typo or a bad value is a ConfigError naming it.

Config dataclasses do not validate their fields by themselves; each method's
config calls these from `__post_init__`, and `build()` uses `make_config` to
reject unknown option names with the list of valid ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from rankgraph.errors import ConfigError
from rankgraph.rerank.fusion import FUSION_MODES

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

C = TypeVar("C", bound="DataclassInstance")


def choice(method: str, name: str, value: object, allowed: Iterable[object]) -> None:
    options = tuple(allowed)
    if value not in options:
        valid = ", ".join(repr(o) for o in options)
        raise ConfigError(f"{method}: {name}={value!r} is not valid; choose one of {valid}")


def between(method: str, name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{method}: {name}={value!r} must be between {low} and {high}")


def fusion_options(method: str, fusion: str, weight: float) -> None:
    """The first-stage fusion pair every scoring method accepts."""
    choice(method, "fusion", fusion, FUSION_MODES)
    between(method, "fusion_weight", weight, 0.0, 1.0)


def make_config(method: str, cls: type[C], options: Mapping[str, Any]) -> C:
    """`cls(**options)`, or a ConfigError listing the options `method` accepts."""
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {unknown} for rerank method {method!r}; "
            f"valid: {', '.join(fields) or '(none)'}"
        )
    return cls(**options)
