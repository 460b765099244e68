"""ASGI middleware that vLLM loads (`--middleware rankgraph_key_guard.RequireKey`).

Why: vLLM's own `--api-key` / VLLM_API_KEY check guards only paths under /v1,
/v2, /inference and /cohere; /metrics, /docs, /openapi.json, /tokenize,
/invocations (inference again) and the rest stay open to every local user.
This middleware asks for the same bearer key on every path but /health.

It runs inside the engine's own virtualenv (this directory is put on its
PYTHONPATH), so it imports nothing outside the standard library.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KEY_ENV = "VLLM_API_KEY"
OPEN_PATHS = frozenset({"/health"})


class RequireKey:
    """Rejects HTTP and websocket requests without `Authorization: Bearer <key>`."""

    def __init__(self, app: ASGIApp) -> None:
        key = os.environ.get(KEY_ENV)
        if not key:
            # Fail closed: a server that should be guarded must not start unguarded.
            raise RuntimeError(f"{KEY_ENV} is not set; rankgraph starts vLLM with a key")
        self.app = app
        self._digest = hashlib.sha256(key.encode()).digest()

    def authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name.lower() == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                digest = hashlib.sha256(token.strip().encode()).digest()
                return scheme.lower() == "bearer" and secrets.compare_digest(digest, self._digest)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        guarded = scope["type"] in {"http", "websocket"} and scope["path"] not in OPEN_PATHS
        if not guarded or self.authorized(scope):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            body = json.dumps({"error": "Unauthorized"}).encode()
            await send({
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())],
            })  # fmt: skip
            await send({"type": "http.response.body", "body": body})
