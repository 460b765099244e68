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

from rankgraph.errors import ConfigError
from rankgraph.llm.protocol import ChatClient
from rankgraph.rerank.base import Budget, Reranker, RerankResult
from rankgraph.rerank.cascade import CascadeConfig, CascadeReranker
from rankgraph.rerank.combined import CombinedConfig, CombinedReranker
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


METHODS: Mapping[str, Method] = MappingProxyType(
    {
        "none": Method(IdentityReranker, IdentityConfig),
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


def build(method: str, client: ChatClient | None, **options: Any) -> Reranker:
    """The reranker called `method`, configured by `options` (its config's fields).

    Only "none" (no LLM call) may be built without a client.
    """
    entry = METHODS.get(method)
    if entry is None:
        raise ConfigError(f"unknown rerank method {method!r}; choose one of {', '.join(METHODS)}")
    if client is None and method != "none":
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

__all__ = ["DEFAULT_METHOD", "METHODS", "Budget", "Method", "RerankResult", "Reranker", "build"]
