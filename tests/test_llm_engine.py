"""The client against the real embedded engine: what only a real model shows."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from rankgraph.llm import LLMClient

pytestmark = pytest.mark.engine

ASK = [{"role": "user", "content": "Is Paris the capital of France? Answer Yes or No."}]


async def test_complete_returns_text_usage_and_latency(llm: LLMClient) -> None:
    reply = await llm.complete(ASK, max_tokens=8)
    assert reply.usage.calls == 1
    assert reply.usage.prompt_tokens > 5
    assert 1 <= reply.usage.completion_tokens <= 8
    assert reply.usage.latency_ms > 0
    assert reply.base_url in llm.base_urls


async def test_label_logprobs_reads_first_token_distribution(llm: LLMClient) -> None:
    labels = await llm.label_logprobs(ASK, ["Yes", "No"])
    first = labels.completion.logprobs[0]
    assert len(first.top) >= 5  # the engine returned real top-k alternatives
    probs = labels.probabilities()
    assert sum(probs.values()) == pytest.approx(1.0)


class Verdict(BaseModel):
    relevant: bool
    reason: str


async def test_structured_output_follows_the_json_schema(llm: LLMClient) -> None:
    verdict, reply = await llm.structured(ASK, Verdict, max_tokens=64)
    assert isinstance(verdict.relevant, bool)
    assert reply.request["response_format"]["type"] == "json_schema"


async def test_structured_choice_constrains_the_reply(llm: LLMClient) -> None:
    reply = await llm.complete(ASK, max_tokens=4, choices=["Yes", "No"])
    assert reply.text in {"Yes", "No"}


async def test_streaming_emits_deltas_that_add_up_to_the_text(llm: LLMClient) -> None:
    deltas: list[str] = []
    reply = await llm.complete(ASK, max_tokens=16, on_delta=deltas.append)
    assert len(deltas) >= 2
    assert "".join(deltas).strip() == reply.text
    assert reply.usage.completion_tokens == len(deltas) or reply.usage.completion_tokens > 0


async def test_think_then_answer_caps_the_thought_and_still_answers(llm: LLMClient) -> None:
    messages = [
        {"role": "system", "content": "Think inside <think></think>, then answer Yes or No."},
        *ASK,
    ]
    reply = await llm.think_then_answer(messages, max_thinking_tokens=8, max_answer_tokens=4)
    assert reply.usage.calls == 2
    assert reply.reasoning  # the capped thought is kept for the trace
    assert reply.request["max_thinking_tokens"] == 8
    assert reply.usage.completion_tokens <= 8 + 4


async def test_concurrent_requests_are_all_answered(llm: LLMClient) -> None:
    replies = await asyncio.gather(*(llm.complete(ASK, max_tokens=2) for _ in range(6)))
    assert all(r.usage.calls == 1 for r in replies)
