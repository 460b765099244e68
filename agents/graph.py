"""The agent graph, wired to read like its diagram:

rewrite → retrieve → rerank → filter ─┬→ [note →] generate → END
   ↑                                  │
   └────────── too few passages ──────┘
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from rankgraph.agents.deps import Deps
from rankgraph.agents.filter import filter_node
from rankgraph.agents.generate import generate_node
from rankgraph.agents.note import note_node
from rankgraph.agents.rerank import rerank_node
from rankgraph.agents.retrieve import retrieve_node
from rankgraph.agents.rewrite import rewrite_node
from rankgraph.agents.routing import after_filter
from rankgraph.agents.state import RAGState
from rankgraph.pipeline_config import PipelineConfig


def build_graph(config: PipelineConfig) -> StateGraph[RAGState, Deps, RAGState, RAGState]:
    """The uncompiled graph; add or replace nodes, then compile (with a checkpointer)."""
    graph = StateGraph(RAGState, context_schema=Deps)
    graph.add_node("rewrite", rewrite_node)
    graph.add_node("retrieve", retrieve_node)
    graph.add_node("rerank", rerank_node)
    graph.add_node("filter", filter_node)
    graph.add_node("generate", generate_node)
    graph.add_edge(START, "rewrite")
    graph.add_edge("rewrite", "retrieve")
    graph.add_edge("retrieve", "rerank")
    graph.add_edge("rerank", "filter")
    answer = "generate"
    if config.filter.notes:
        graph.add_node("note", note_node)
        graph.add_edge("note", "generate")
        answer = "note"
    graph.add_conditional_edges("filter", after_filter, {"rewrite": "rewrite", "answer": answer})
    graph.add_edge("generate", END)
    return graph
