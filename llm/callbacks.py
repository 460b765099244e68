"""Every LLM call as a LangChain chat-model run, when the caller runs under callbacks.

A call made inside a Runnable's run (the Pipeline's `ainvoke` or `astream_events`,
a reranker called from a LangGraph node, a `RunnableConfig` with tracers) finds
that run's config in LangChain's context variable. `traced` then reports the call
to the config's callbacks: `on_chat_model_start` with the prompt messages and the
model, `on_llm_new_token` for streamed text, `on_llm_end` with the reply, its
token usage (`usage_metadata`) and latency, or `on_llm_error`. LangSmith and
OpenTelemetry tracers, and `astream_events(version="v2")`, see it as any chat model.

With no callbacks in the context, `traced` costs one context-variable read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.callbacks import AsyncCallbackManager, AsyncCallbackManagerForLLMRun
from langchain_core.messages import AIMessage, UsageMetadata, convert_to_messages
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables.config import var_child_runnable_config

from rankgraph.llm.completion import Completion, Messages, OnDelta, emit_delta

RUN_NAME = "rankgraph-llm"


async def traced(
    model: str,
    messages: Messages,
    params: dict[str, Any],
    on_delta: OnDelta | None,
    call: Callable[[OnDelta | None], Awaitable[Completion]],
) -> Completion:
    """`call(on_delta)`, reported to the callbacks of the run it is made in, if any."""
    run = await _start(model, messages, params)
    if run is None:
        return await call(on_delta)
    streamed = None if on_delta is None else _also_to(run, on_delta)
    try:
        completion = await call(streamed)
    except BaseException as exc:
        await run.on_llm_error(exc)
        raise
    await run.on_llm_end(chat_result(completion))
    return completion


async def _start(
    model: str, messages: Messages, params: dict[str, Any]
) -> AsyncCallbackManagerForLLMRun | None:
    config = var_child_runnable_config.get()
    if not config or not config.get("callbacks"):
        return None
    manager = AsyncCallbackManager.configure(
        inheritable_callbacks=config.get("callbacks"),
        inheritable_tags=config.get("tags"),
        # LangSmith's conventions for a chat model's metadata
        inheritable_metadata={
            **config.get("metadata", {}),
            "ls_provider": "openai",
            "ls_model_type": "chat",
            "ls_model_name": model,
            "ls_max_tokens": params.get("max_tokens"),
            "ls_temperature": params.get("temperature"),
        },
    )
    if not manager.handlers:
        return None
    runs = await manager.on_chat_model_start(
        {"name": RUN_NAME},
        [convert_to_messages(messages)],
        invocation_params={"model": model, **params},
        name=RUN_NAME,
    )
    return runs[0]


def _also_to(run: AsyncCallbackManagerForLLMRun, on_delta: OnDelta) -> OnDelta:
    async def both(text: str) -> None:
        await run.on_llm_new_token(text)
        await emit_delta(on_delta, text)

    return both


def chat_result(completion: Completion) -> LLMResult:
    """The reply as LangChain reports a chat model's: an AIMessage with usage.

    >>> from rankgraph.trace import Usage
    >>> done = Completion("Paris", None, "stop", Usage(calls=1, prompt_tokens=9,
    ...     completion_tokens=2, latency_ms=12.5), "m", "http://x/v1", [], {})
    >>> message = chat_result(done).generations[0][0].message
    >>> message.content, message.usage_metadata["total_tokens"]
    ('Paris', 11)
    >>> message.response_metadata["latency_ms"]
    12.5
    """
    usage = completion.usage
    tokens: UsageMetadata = {
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }
    message = AIMessage(
        content=completion.text,
        additional_kwargs={"reasoning_content": completion.reasoning}
        if completion.reasoning
        else {},
        usage_metadata=tokens,
        response_metadata={
            "model_name": completion.model,
            "finish_reason": completion.finish_reason,
            "base_url": completion.base_url,
            "latency_ms": usage.latency_ms,
            "retries": usage.retries,
            "cached": completion.cached,
        },
    )
    token_usage = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": tokens["total_tokens"],
    }
    return LLMResult(
        generations=[[ChatGeneration(message=message)]],
        llm_output={"token_usage": token_usage, "model_name": completion.model},
    )
