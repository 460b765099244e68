"""rankgraph: a graph of LLM agents for retrieval-augmented, cited answers."""
