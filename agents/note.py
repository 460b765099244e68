"""note: Chain-of-Note — a short reading note per kept passage before answering.

Notes make the generator reason about each passage's bearing on the question
(and notice when none helps), which mainly buys correct "I don't know"s with
noisy retrieval.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from rankgraph.agents.deps import Deps
from rankgraph.agents.state import RAGState, reader_question
from rankgraph.prompts import load_prompt
from rankgraph.prompts.passages import fenced
from rankgraph.schema import Passage
from rankgraph.trace import TraceEvent


async def _note(deps: Deps, question: str, passage: Passage) -> tuple[str, TraceEvent]:
    messages = load_prompt("note").render(
        question=question, passage=fenced(passage, "1", deps.config.filter.max_words)
    )
    completion = await deps.client.complete(messages, max_tokens=deps.config.filter.note_max_tokens)
    text = " ".join(completion.text.split())
    return text, completion.event("note", "chain-of-note").with_outcome(
        parsed=text, passage_id=passage.id
    )


async def note_node(state: RAGState, runtime: Runtime[Deps]) -> dict[str, Any]:
    question = reader_question(state)
    results = await asyncio.gather(
        *(_note(runtime.context, question, p) for p in state.get("kept", []))
    )
    return {"notes": [n for n, _ in results], "trace": [e for _, e in results]}
