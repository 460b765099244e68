"""What the routes share, built once by the app's lifespan and kept on `app.state`."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from rankgraph.agents import Pipeline
from rankgraph.config import Settings
from rankgraph.llm.client import LLMClient
from rankgraph.rerank.base import Reranker
from rankgraph.retrieval import Retriever
from rankgraph.serve.limits import Admission
from rankgraph.serve.traces import TraceStore


@dataclass
class ServerState:
    settings: Settings
    model_id: str  # the chat model id of the one served pipeline
    collection: str
    pipeline: Pipeline
    client: LLMClient
    retriever: Retriever
    admission: Admission
    traces: TraceStore
    started: int
    rerankers: dict[str, Reranker] = field(default_factory=dict)  # built on first use


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.rankgraph
    return state
