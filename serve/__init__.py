"""`rankgraph serve`: an OpenAI-compatible chat API, a Cohere/Jina-shaped rerank API
and a trace page, over one shared pipeline (FastAPI + uvicorn, async end to end)."""

from rankgraph.serve.app import build_state, create_app
from rankgraph.serve.traces import RunRecord, TraceStore

__all__ = ["RunRecord", "TraceStore", "build_state", "create_app"]
