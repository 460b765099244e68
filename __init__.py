"""rankgraph: a graph of LLM agents for retrieval-augmented, cited answers.

    import rankgraph
    result = rankgraph.rerank("what is BM25?", ["BM25 is a ranking function", "Paris"])

Only the names in `__all__` are the public API. Everything but the errors and
`arerank` loads on first use, so `import rankgraph` and
`rankgraph --help` do not pay for LangGraph, Chroma or the OpenAI client.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from rankgraph.api import arerank
from rankgraph.errors import (
    ConfigError,
    EngineError,
    InputError,
    LLMResponseError,
    LLMUnavailable,
    ParseError,
    PromptError,
    RankgraphError,
    RetrievalError,
)

if TYPE_CHECKING:
    from rankgraph.agents import Pipeline
    from rankgraph.config import Settings, load_settings
    from rankgraph.llm import LLMClient
    from rankgraph.rerank.base import Budget, RerankResult
    from rankgraph.schema import Passage

try:
    __version__ = version("rankgraph")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

# name -> module that defines it; imported on first attribute access. `rerank` is the
# `rankgraph.rerank` subpackage itself, which is callable: rankgraph.rerank(query, docs).
_LAZY = {
    "Budget": "rankgraph.rerank.base",
    "LLMClient": "rankgraph.llm",
    "Passage": "rankgraph.schema",
    "Pipeline": "rankgraph.agents",
    "RerankResult": "rankgraph.rerank.base",
    "Settings": "rankgraph.config",
    "load_settings": "rankgraph.config",
    "rerank": "rankgraph.rerank",
}

__all__ = [
    "Budget",
    "ConfigError",
    "EngineError",
    "InputError",
    "LLMClient",
    "LLMResponseError",
    "LLMUnavailable",
    "ParseError",
    "Passage",
    "Pipeline",
    "PromptError",
    "RankgraphError",
    "RerankResult",
    "RetrievalError",
    "Settings",
    "__version__",
    "arerank",
    "load_settings",
    "rerank",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rankgraph' has no attribute {name!r}")
    imported = importlib.import_module(module)
    value = imported if name == "rerank" else getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
