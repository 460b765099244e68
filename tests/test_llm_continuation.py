"""`ChatClient.continuation_logprobs`: a text's token logprobs as the start of the
reply, read from vLLM's prompt logprobs — request shape, alignment, cache, errors.
The client is the real `LLMClient` against the scripted loopback server (no engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rankgraph.config import LLMSettings
from rankgraph.errors import LLMResponseError
from rankgraph.llm import LLMClient, ResponseCache
from rankgraph.llm.completion import TokenLogprob, tail_tokens
from rankgraph.llm.replies import prompt_tokens
from tests.scripted_server import Reply, serve

P = [{"role": "user", "content": "P"}]
TOKENS = ["<|im_start|>", "user", "\n", "Passage", "<|im_end|>", "assistant", "\n", "how", " long"]


def reply(tokens: list[str], ids: bool = True) -> dict[str, Any]:
    logprobs: list[Any] = [None] + [
        {str(i): {"logprob": -float(i), "rank": 1, "decoded_token": t}}
        for i, t in enumerate(tokens[1:], start=1)
    ]
    body: dict[str, Any] = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "?"},
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": len(tokens), "completion_tokens": 1, "total_tokens": 0},
        "prompt_logprobs": logprobs,
    }
    if ids:
        body["prompt_token_ids"] = list(range(len(tokens)))
    return body


def client_for(url: str, **kw: Any) -> LLMClient:
    return LLMClient([url], "m", settings=LLMSettings(max_attempts=1), **kw)


async def test_the_query_is_sent_as_the_reply_to_continue_and_its_tokens_are_scored() -> None:
    with serve([Reply(body=reply(TOKENS))]) as server:
        async with client_for(server.base_url) as client:
            scored = await client.continuation_logprobs(P, "how long")
    request = server.requests[0]
    assert request["messages"][-1] == {"role": "assistant", "content": "how long"}
    assert request["prompt_logprobs"] == 0 and request["continue_final_message"] is True
    assert request["add_generation_prompt"] is False and request["max_tokens"] == 1
    assert [t.token for t in scored.tokens] == ["how", " long"]
    assert scored.mean == pytest.approx(-7.5)


async def test_scores_come_back_from_the_cache_unchanged(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    with serve([Reply(body=reply(TOKENS))]) as server:
        async with client_for(server.base_url, cache=cache) as client:
            first = await client.continuation_logprobs(P, "how long")
            again = await client.continuation_logprobs(P, "how long")
    assert len(server.requests) == 1 and again.completion.cached
    assert again.tokens == first.tokens


async def test_an_engine_without_prompt_logprobs_is_an_error_naming_the_need() -> None:
    body = reply(TOKENS)
    del body["prompt_logprobs"]
    with serve([Reply(body=body)]) as server:
        async with client_for(server.base_url) as client:
            with pytest.raises(LLMResponseError, match="prompt logprobs") as raised:
                await client.continuation_logprobs(P, "how long")
    assert 'rerank.method = "pointwise"' in str(raised.value)  # the fix, not only the cause


def test_tail_tokens_counts_a_token_that_straddles_the_boundary() -> None:
    toks = [TokenLogprob(t, -1.0, {}) for t in ["\n", "x", " how", " long"]]
    assert [t.token for t in tail_tokens(toks, "how long")] == [" how", " long"]
    with pytest.raises(LLMResponseError, match="do not end with"):
        tail_tokens(toks, "what now")


def test_prompt_tokens_pick_the_prompt_token_among_top_k_alternatives() -> None:
    raw = [
        None,
        {
            "5": {"logprob": -2.0, "decoded_token": "a"},
            "9": {"logprob": -0.1, "decoded_token": "b"},
        },
    ]
    assert prompt_tokens(raw, [1, 5]) == (TokenLogprob("a", -2.0, {}),)
