"""The LLM client's contract on faults, cache and parsing, against a scripted HTTP server."""

from __future__ import annotations

import asyncio
import math
import socket
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult
from langchain_core.runnables import RunnableLambda

from rankgraph.config import LLMSettings
from rankgraph.errors import CacheMiss, LLMResponseError, LLMUnavailable
from rankgraph.llm import LLMClient, ResponseCache
from tests.scripted_server import Reply, chat_reply, error_reply, serve

FAST = LLMSettings(max_attempts=3, backoff_initial_s=0.01, backoff_max_s=0.02, timeout_s=5)
HELLO = [{"role": "user", "content": "hello"}]


def _client(*urls: str, settings: LLMSettings = FAST, **kw: object) -> LLMClient:
    return LLMClient(list(urls), "scripted", settings=settings, **kw)  # type: ignore[arg-type]


async def test_retries_a_500_then_returns_the_reply_and_counts_the_retry() -> None:
    with serve([error_reply(500), chat_reply("fine")]) as server:
        async with _client(server.base_url) as client:
            reply = await client.complete(HELLO)
    assert reply.text == "fine"
    assert reply.usage.retries == 1
    assert len(server.requests) == 2


async def test_retries_429_rate_limits() -> None:
    with serve([error_reply(429), error_reply(429), chat_reply("ok")]) as server:
        async with _client(server.base_url) as client:
            reply = await client.complete(HELLO)
    assert reply.text == "ok"
    assert len(server.requests) == 3


async def test_gives_up_after_bounded_attempts_naming_the_url_and_the_fix() -> None:
    with serve([error_reply(503)]) as server:
        async with _client(server.base_url) as client:
            with pytest.raises(LLMUnavailable) as info:
                await client.complete(HELLO)
    assert len(server.requests) == FAST.max_attempts
    assert server.base_url in str(info.value)
    assert "rankgraph engine start" in str(info.value)


async def test_a_400_is_not_retried_and_says_what_the_server_said() -> None:
    with serve([error_reply(400, "max_tokens is too large")]) as server:
        async with _client(server.base_url) as client:
            with pytest.raises(LLMResponseError, match="max_tokens is too large"):
                await client.complete(HELLO)
    assert len(server.requests) == 1


async def test_a_hung_server_times_out_and_is_retried() -> None:
    settings = FAST.model_copy(update={"timeout_s": 0.3, "max_attempts": 2})
    with serve([Reply(delay_s=1.0, body={}), chat_reply("late but fine")]) as server:
        async with _client(server.base_url, settings=settings) as client:
            reply = await client.complete(HELLO)
    assert reply.text == "late but fine"
    assert reply.usage.retries == 1


async def test_unreachable_endpoint_raises_llm_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with _client(f"http://127.0.0.1:{port}/v1") as client:
        with pytest.raises(LLMUnavailable, match=r"Connect"):
            await client.complete(HELLO)


async def test_no_endpoint_configured_is_a_clear_error() -> None:
    with pytest.raises(LLMUnavailable, match="rankgraph engine start"):
        LLMClient([], "m")


async def test_cache_serves_a_repeated_request_without_calling_the_server(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite", "read-write")
    with serve([chat_reply("first")]) as server:
        async with _client(server.base_url, cache=cache) as client:
            one = await client.complete(HELLO)
            two = await client.complete(HELLO)
            other = await client.complete(HELLO, max_tokens=7)
    assert (one.text, two.text, other.text) == ("first", "first", "first")
    assert not one.cached and two.cached
    assert two.usage.cached_calls == 1
    assert len(server.requests) == 2  # max_tokens is part of the key


async def test_replay_mode_replays_and_refuses_unseen_requests(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with serve([chat_reply("recorded")]) as server:
        async with _client(server.base_url, cache=ResponseCache(path, "read-write")) as client:
            await client.complete(HELLO)
        async with _client(server.base_url, cache=ResponseCache(path, "replay")) as client:
            again = await client.complete(HELLO)
            with pytest.raises(CacheMiss, match="read-write"):
                await client.complete([{"role": "user", "content": "new"}])
    assert again.text == "recorded"
    assert len(server.requests) == 1


async def test_label_logprobs_pool_tokens_that_differ_only_by_spacing() -> None:
    top = {"Yes": -1.0, " Yes": -1.0, "No": -0.5, "Maybe": -3.0}
    with serve([chat_reply("No", top=top)]) as server:
        async with _client(server.base_url) as client:
            labels = await client.label_logprobs(HELLO, ["Yes", "No", "Unseen"])
    probs = labels.probabilities()
    assert labels.logprobs["Unseen"] == float("-inf")
    assert labels.seen == 2
    assert labels.logprobs["Yes"] == pytest.approx(-1.0 + math.log(2))  # " Yes" + "Yes"
    assert probs["Yes"] == pytest.approx(2 * math.exp(-1) / (2 * math.exp(-1) + math.exp(-0.5)))
    assert probs["Unseen"] == 0.0
    assert server.requests[0]["top_logprobs"] == 20
    assert server.requests[0]["max_tokens"] == 1


async def test_missing_logprobs_are_an_error_not_a_silent_default() -> None:
    with serve([chat_reply("Yes")]) as server:
        async with _client(server.base_url) as client:
            with pytest.raises(LLMResponseError, match="no logprobs"):
                await client.label_logprobs(HELLO, ["Yes", "No"])


async def test_reasoning_is_read_from_reasoning_content_or_think_tags() -> None:
    with serve(
        [
            chat_reply("[2] > [1]", reasoning="B is on topic"),
            chat_reply("<think>A mentions fleas</think>[1] > [2]"),
        ]
    ) as server:
        async with _client(server.base_url) as client:
            native = await client.complete(HELLO)
            inline = await client.complete(HELLO, max_tokens=9)
    assert (native.text, native.reasoning) == ("[2] > [1]", "B is on topic")
    assert (inline.text, inline.reasoning) == ("[1] > [2]", "A mentions fleas")


async def test_requests_spread_over_endpoints_by_least_in_flight() -> None:
    slow = Reply(delay_s=0.3, body=chat_reply("a").body)
    with serve([slow]) as one, serve([slow]) as two:
        async with _client(one.base_url, two.base_url) as client:
            await asyncio.gather(*(client.complete(HELLO) for _ in range(4)))
    assert len(one.requests) == 2
    assert len(two.requests) == 2


async def test_completion_becomes_a_trace_event_with_prompt_reply_and_usage() -> None:
    with serve([chat_reply("Yes", prompt_tokens=42, completion_tokens=1)]) as server:
        async with _client(server.base_url) as client:
            reply = await client.complete(HELLO, max_tokens=3)
    event = reply.event("filter", "judge").with_outcome(parsed=True, repairs=["none"])
    assert event.messages == HELLO
    assert event.reply == "Yes"
    assert event.request["max_tokens"] == 3
    assert event.usage.prompt_tokens == 42
    assert event.parsed is True


# -- LangChain callbacks -------------------------------------------------------------------


class _Recorder(AsyncCallbackHandler):
    """Keeps the chat-model callbacks it receives, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    async def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kw: Any
    ) -> None:
        self.seen.append(("start", (messages, kw["invocation_params"], kw["metadata"])))

    async def on_llm_end(self, response: LLMResult, **kw: Any) -> None:
        self.seen.append(("end", response))

    async def on_llm_error(self, error: BaseException, **kw: Any) -> None:
        self.seen.append(("error", error))


async def test_a_call_inside_a_runnable_run_is_a_chat_model_run_with_usage() -> None:
    with serve([chat_reply("fine", prompt_tokens=7, completion_tokens=2)]) as server:
        async with _client(server.base_url) as client:

            async def call(_: str) -> str:
                return (await client.complete(HELLO, max_tokens=5)).text

            events = [e async for e in RunnableLambda(call).astream_events("x", version="v2")]
    [start] = [e for e in events if e["event"] == "on_chat_model_start"]
    [end] = [e for e in events if e["event"] == "on_chat_model_end"]
    assert start["data"]["input"]["messages"][0][0].content == "hello"
    assert start["metadata"]["ls_model_name"] == "scripted"
    message = end["data"]["output"]
    assert message.content == "fine"
    assert message.usage_metadata == {"input_tokens": 7, "output_tokens": 2, "total_tokens": 9}
    assert message.response_metadata["latency_ms"] > 0
    assert end["parent_ids"] == [start["parent_ids"][0]]  # nested under the calling runnable


async def test_a_failed_call_reports_the_error_to_the_callbacks() -> None:
    recorder = _Recorder()
    with serve([error_reply(400, "bad prompt")]) as server:
        async with _client(server.base_url) as client:

            async def call(_: str) -> str:
                return (await client.complete(HELLO)).text

            with pytest.raises(LLMResponseError, match="bad prompt"):
                await RunnableLambda(call).ainvoke("x", {"callbacks": [recorder]})
    assert [kind for kind, _ in recorder.seen] == ["start", "error"]
    messages, params, metadata = recorder.seen[0][1]
    assert messages[0][0].content == "hello" and metadata["ls_provider"] == "openai"
    assert params["model"] == "scripted" and params["max_tokens"] == 256
    assert isinstance(recorder.seen[1][1], LLMResponseError)
