"""The LLM layer: the `ChatClient` protocol, its reply types, and `LLMClient`, the only
code that talks to the engine."""

from rankgraph.llm.cache import ResponseCache
from rankgraph.llm.client import LLMClient
from rankgraph.llm.completion import (
    Completion,
    ContinuationLogprobs,
    LabelLogprobs,
    Messages,
    TokenLogprob,
)
from rankgraph.llm.protocol import ChatClient

__all__ = [
    "ChatClient",
    "Completion",
    "ContinuationLogprobs",
    "LLMClient",
    "LabelLogprobs",
    "Messages",
    "ResponseCache",
    "TokenLogprob",
]
