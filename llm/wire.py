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


class ResumedDeltas:
    """One delta callback across the retried attempts of a streamed call.

    Why: a stream that breaks off is retried from its start, so without this the
    reader would get the first attempt's text twice. Each attempt's deltas are
    compared with what was already passed on; only text beyond it goes through. At
    temperature 0 a retry replays the same text, so the reader sees one seamless
    answer; a retry that diverges passes on its text past the old length, and the
    caller, which gets the whole final reply, can tell from it.

    >>> import asyncio
    >>> seen: list[str] = []
    >>> deltas = ResumedDeltas(seen.append)
    >>> first = deltas.attempt()
    >>> asyncio.run(first("The bridge ")); asyncio.run(first("op"))
    >>> second = deltas.attempt()
    >>> for piece in ["The ", "bridge op", "ened."]: asyncio.run(second(piece))
    >>> seen
    ['The bridge ', 'op', 'ened.']
    """

    def __init__(self, on_delta: OnDelta) -> None:
        self.on_delta = on_delta
        self.passed = 0  # characters handed on so far, over every attempt

    def attempt(self) -> OnDelta:
        """The callback for the next attempt."""
        received = 0

        async def deliver(text: str) -> None:
            nonlocal received
            start, received = received, received + len(text)
            if received > self.passed:
                fresh = text[max(0, self.passed - start) :]
                self.passed = received
                await emit_delta(self.on_delta, fresh)

        return deliver
