"""Errors as the OpenAI API shapes them, so any OpenAI client raises its usual class.

{"error": {"message": "...", "type": "invalid_request_error", "param": null, "code": "..."}}
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


class ApiError(Exception):
    """A request the server answers with an HTTP error in the OpenAI error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": self.type, "param": self.param}
        return {"error": {**error, "code": self.code, **self.extra}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def unauthorized(message: str) -> ApiError:
    return ApiError(
        401,
        message,
        type="authentication_error",
        code="invalid_api_key",
        headers={"WWW-Authenticate": "Bearer"},
    )


def overloaded(retry_after_s: int, in_flight: int, queued: int) -> ApiError:
    return ApiError(
        429,
        f"server busy: {in_flight} runs in flight and {queued} queued; retry after "
        f"{retry_after_s} s (raise server.max_in_flight / server.max_queue to take more)",
        type="rate_limit_error",
        code="rate_limit_exceeded",
        headers={"Retry-After": str(retry_after_s)},
    )


def not_found(message: str, code: str = "not_found") -> ApiError:
    return ApiError(404, message, type="not_found_error", code=code)


def engine_failed(message: str, trace_id: str, *, unavailable: bool) -> ApiError:
    """A pipeline node failed: 503 when the engine did not answer (retry later), else 502.

    The run's trace is stored either way; `trace_id` names it.
    """
    return ApiError(
        503 if unavailable else 502,
        message,
        type="server_error",
        code="engine_unavailable" if unavailable else "pipeline_failed",
        extra={"trace_id": trace_id},
    )
