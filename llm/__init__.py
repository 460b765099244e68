"""The LLM client: the only module that talks to the engine."""

from rankgraph.llm.cache import ResponseCache
from rankgraph.llm.client import Completion, LabelLogprobs, LLMClient, TokenLogprob

__all__ = ["Completion", "LLMClient", "LabelLogprobs", "ResponseCache", "TokenLogprob"]
