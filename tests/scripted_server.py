"""A scripted OpenAI-compatible HTTP server on loopback, for faults a real engine
cannot be made to produce on demand: a 500, a 429, a hang, a malformed reply.

Each POST to /v1/chat/completions takes the next `Reply` from the script (the last
one repeats); GET /v1/models lists one model. Every request body is recorded.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    delay_s: float = 0.0


def chat_reply(
    text: str,
    *,
    top: dict[str, float] | None = None,
    reasoning: str | None = None,
    prompt_tokens: int = 10,
    completion_tokens: int = 1,
    finish_reason: str = "stop",
) -> Reply:
    """A well-formed chat completion, optionally with first-token top logprobs."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish_reason}
    if top is not None:
        first = max(top, key=lambda t: top[t])
        choice["logprobs"] = {
            "content": [
                {
                    "token": first,
                    "logprob": top[first],
                    "bytes": None,
                    "top_logprobs": [
                        {"token": t, "logprob": lp, "bytes": None} for t, lp in top.items()
                    ],
                }
            ]
        }
    return Reply(
        body={
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": 0,
            "model": "scripted",
            "choices": [choice],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


def error_reply(status: int, message: str = "scripted failure") -> Reply:
    return Reply(status=status, body={"error": {"message": message, "type": "scripted"}})


@dataclass
class ScriptedServer:
    script: list[Reply]
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]


def _handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)  # the client may have given up (timeout test)

        def do_GET(self) -> None:
            self._send(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            reply = server.next_reply(body)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            self._send(reply.status, reply.body or {})

    return Handler


@contextmanager
def serve(script: list[Reply]) -> Iterator[ScriptedServer]:
    """Run a scripted server on a free loopback port for the duration of the block."""
    server = ScriptedServer(script=list(script))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
