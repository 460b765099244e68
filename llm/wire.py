"""What goes over the wire to an OpenAI-compatible endpoint: messages and streamed replies."""

from __future__ import annotations

from typing import Any, cast

from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

from rankgraph.llm.completion import Messages, OnDelta, emit_delta


def wire_messages(messages: Messages) -> list[ChatCompletionMessageParam]:
    """`messages` as the openai SDK types them (the same list, unchanged).

    rankgraph builds plain role/content dicts, and engines accept extra keys the SDK's
    TypedDicts do not know, so the check is left to the server rather than narrowed here.
    """
    return cast("list[ChatCompletionMessageParam]", messages)


async def stream_reply(
    client: AsyncOpenAI,
    model: str,
    messages: Messages,
    params: dict[str, Any],
    on_delta: OnDelta,
) -> dict[str, Any]:
    """Stream one completion, emitting deltas; returns a plain dict shaped like a reply."""
    stream = await client.chat.completions.create(
        model=model,
        messages=wire_messages(messages),
        stream=True,
        stream_options={"include_usage": True},
        **params,
    )
    parts: list[str] = []
    finish: str | None = None
    usage: Any = None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                parts.append(choice.delta.content)
                await emit_delta(on_delta, choice.delta.content)
            finish = choice.finish_reason or finish
    return {"text": "".join(parts), "finish_reason": finish, "usage": usage}
