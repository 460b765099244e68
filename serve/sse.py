"""Server-sent events that end their run when the client leaves.

`EventStream` listens for the disconnect itself (whatever ASGI spec version the
server speaks) and cancels the body, so the pipeline's LLM calls are cancelled
with it; `on_close` runs however the response ends (it frees the run's slot).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


class EventStream(StreamingResponse):
    def __init__(self, body: AsyncIterator[str], *, on_close: Callable[[], None]) -> None:
        super().__init__(
            body,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def stream_then_stop() -> None:
                    await self.stream_response(send)
                    group.cancel_scope.cancel()

                group.start_soon(stream_then_stop)
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()
        finally:
            self._on_close()


def sse_error(body: dict[str, Any]) -> str:
    """An error event the `openai` client raises as APIError mid-stream."""
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"
