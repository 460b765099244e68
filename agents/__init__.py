"""The agent graph around the reranker: rewrite → retrieve → rerank → filter →
[note →] generate, with a bounded corrective loop and per-thread chat memory."""

from rankgraph.agents.answer import Answer, Citation, NodeFailed, PipelineEvent
from rankgraph.agents.deps import Deps
from rankgraph.agents.graph import build_graph
from rankgraph.agents.pipeline import Pipeline, PipelineInput
from rankgraph.agents.state import RAGState
from rankgraph.pipeline_config import PipelineConfig

__all__ = [
    "Answer",
    "Citation",
    "Deps",
    "NodeFailed",
    "Pipeline",
    "PipelineConfig",
    "PipelineEvent",
    "PipelineInput",
    "RAGState",
    "build_graph",
]
