"""LLM rerankers: one class per method behind the `Reranker` protocol, built by name.

    rankgraph.rerank(query, ["text", ...], method="pointwise")   # one call, see api.py

    reranker = build("setwise", client, set_size=4)
    result = await reranker.rerank(query, passages, top_k=10, budget=Budget(max_calls=50))

`METHODS` is the explicit registry (name → reranker class and its frozen config);
`build` rejects unknown methods and options with a ConfigError listing the valid ones.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from rankgraph.choices import PROMPT_LOGPROB_KINDS, EngineKind
from rankgraph.errors import ConfigError
from rankgraph.llm.protocol import ChatClient
from rankgraph.rerank.base import Budget, Reranker, RerankResult
from rankgraph.rerank.cascade import CascadeConfig, CascadeReranker
from rankgraph.rerank.combined import CombinedConfig, CombinedReranker
from rankgraph.rerank.embedding import EmbeddingConfig, EmbeddingReranker
from rankgraph.rerank.first import FirstConfig, FirstReranker
from rankgraph.rerank.identity import IdentityConfig, IdentityReranker
from rankgraph.rerank.jointrank import JointRankConfig, JointRankReranker
from rankgraph.rerank.listwise import ListwiseConfig, ListwiseReranker
from rankgraph.rerank.options import make_config
from rankgraph.rerank.pairwise import PairwiseConfig, PairwiseReranker
from rankgraph.rerank.pointwise import PointwiseConfig, PointwiseReranker
from rankgraph.rerank.qlm import QLMConfig, QLMReranker
from rankgraph.rerank.setwise import SetwiseConfig, SetwiseReranker


@dataclass(frozen=True)
class Method:
    """A registry entry: the reranker class and the config dataclass its options fill."""

    reranker: type[Any]
    config: type[Any]
    needs_llm: bool = True


METHODS: Mapping[str, Method] = MappingProxyType(
    {
        "none": Method(IdentityReranker, IdentityConfig, needs_llm=False),
        "embedding": Method(EmbeddingReranker, EmbeddingConfig, needs_llm=False),
        "pointwise": Method(PointwiseReranker, PointwiseConfig),
        "listwise": Method(ListwiseReranker, ListwiseConfig),
        "first": Method(FirstReranker, FirstConfig),
        "pairwise": Method(PairwiseReranker, PairwiseConfig),
        "setwise": Method(SetwiseReranker, SetwiseConfig),
        "jointrank": Method(JointRankReranker, JointRankConfig),
        "qlm": Method(QLMReranker, QLMConfig),
        "combined": Method(CombinedReranker, CombinedConfig),
        "cascade": Method(CascadeReranker, CascadeConfig),
    }
)


# The method `rankgraph rerank` and the API use when none is named: the best
# measured on DL19 with the CPU presets (docs/benchmarks.md).
DEFAULT_METHOD = "combined"
# What a default that reads prompt logprobs gives way to on an engine that returns
# none: the best measured method that reads only the first token's top logprobs.
PORTABLE_METHOD = "pointwise"


def needs_client(method: str) -> bool:
    """Whether `method` makes LLM calls and so must be built with a client; an unknown
    name counts as one, so `build` is the one place that reports it.

    >>> needs_client("embedding"), needs_client("qlm")
    (False, True)
    """
    entry = METHODS.get(method)
    return entry is None or entry.needs_llm


def reads_prompt_logprobs(method: str, **options: Any) -> bool:
    """Whether `method` with `options` scores passages from the engine's prompt logprobs.

    >>> reads_prompt_logprobs("qlm"), reads_prompt_logprobs("cascade", final="pointwise")
    (True, False)
    """
    entry = METHODS.get(method)
    if entry is None:
        return False
    return bool(getattr(make_config(method, entry.config, options), "reads_prompt_logprobs", False))


def method_for(kind: EngineKind, method: str | None, *, default: str, **options: Any) -> str:
    """The method to build for an engine of `kind`: `method`, or `default` when None.

    Why here, before the first query: llama.cpp's server returns no prompt logprobs, so
    qlm / combined / cascade would fail on every call. A default that needs them gives
    way to `PORTABLE_METHOD`; a method the user named fails now, with the fix.

    >>> method_for("llamacpp", None, default="qlm"), method_for("embedded", None, default="qlm")
    ('pointwise', 'qlm')
    """
    if kind in PROMPT_LOGPROB_KINDS:
        return method or default
    if method is None:
        return PORTABLE_METHOD if reads_prompt_logprobs(default) else default
    if reads_prompt_logprobs(method, **options):
        raise ConfigError(
            f"rerank method {method!r} reads prompt logprobs, which the {kind} engine does not "
            f"return; choose one that reads none (e.g. {PORTABLE_METHOD!r}) or a vLLM engine"
        )
    return method


def build(method: str, client: ChatClient | None, **options: Any) -> Reranker:
    """The reranker called `method`, configured by `options` (its config's fields).

    Only the methods that make no LLM call ("none", "embedding") may be built without one.
    """
    entry = METHODS.get(method)
    if entry is None:
        raise ConfigError(f"unknown rerank method {method!r}; choose one of {', '.join(METHODS)}")
    if client is None and needs_client(method):
        raise ConfigError(f"rerank method {method!r} needs an LLM client")
    config = make_config(method, entry.config, options)
    reranker: Reranker = entry.reranker(client, config)
    return reranker


class _CallablePackage(types.ModuleType):
    """Makes `rankgraph.rerank(query, docs, ...)` the one-call API (`rankgraph.api.rerank`).

    Why on the package: `rankgraph.rerank` is this subpackage (`from rankgraph import
    rerank; rerank.build(...)`), so a top-level function of that name would be replaced
    by, or replace, the package depending on import order.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> RerankResult:
        from rankgraph.api import rerank

        return rerank(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "PORTABLE_METHOD",
    "Budget",
    "Method",
    "RerankResult",
    "Reranker",
    "build",
    "method_for",
    "needs_client",
    "reads_prompt_logprobs",
]
