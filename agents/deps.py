"""What the nodes depend on, handed in through LangGraph's `context_schema`.

Nothing is built inside a node: the pipeline (or a test) constructs the client,
retriever and reranker once and passes them with every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rankgraph.llm.protocol import ChatClient
from rankgraph.pipeline_config import PipelineConfig
from rankgraph.rerank.base import Reranker
from rankgraph.schema import Passage


class SearchesMany(Protocol):
    """The part of `rankgraph.retrieval.Retriever` the graph uses."""

    async def asearch_many(
        self,
        queries: Sequence[str],
        *,
        k: int = ...,
        mode: Any = ...,
        where: dict[str, Any] | None = ...,
    ) -> list[Passage]: ...


@dataclass(frozen=True)
class Deps:
    """`client` writes (rewrite, notes, the answer); `judge_client`, when set, is the
    LLM the filter's relevance judges ask (the reranker holds its own client)."""

    client: ChatClient
    retriever: SearchesMany
    reranker: Reranker
    config: PipelineConfig
    judge_client: ChatClient | None = None

    @property
    def judge(self) -> ChatClient:
        return self.judge_client or self.client
