"""Bounded work: a fixed number of pipelines in flight, a bounded queue behind them,
and request bodies read only up to a size limit.

A run past the queue is refused at once (429 + Retry-After) rather than parked:
an unbounded backlog only turns overload into timeouts for everyone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request

from rankgraph.errors import first_problem
from rankgraph.serve.errors import ApiError, overloaded

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class Admission:
    """At most `max_in_flight` runs at once and `max_queue` waiting for a slot."""

    def __init__(self, max_in_flight: int, max_queue: int, retry_after_s: int) -> None:
        self.max_in_flight = max_in_flight
        self.max_queue = max_queue
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self.queued = 0
        self._slots = asyncio.Semaphore(max_in_flight)

    def reserve(self) -> Ticket:
        """A place in the queue, or ApiError 429 when runs and queue are full."""
        if self.in_flight + self.queued >= self.max_in_flight + self.max_queue:
            raise overloaded(self.retry_after_s, self.in_flight, self.queued)
        self.queued += 1
        return Ticket(self)


class Ticket:
    """One request's claim: queued, then running, then done (release is idempotent)."""

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self.state: Literal["queued", "running", "done"] = "queued"

    async def wait(self) -> None:
        """Wait for a slot; cancelled while waiting, the ticket leaves the queue."""
        try:
            await self._admission._slots.acquire()
        except BaseException:
            self.release()
            raise
        self._admission.queued -= 1
        self._admission.in_flight += 1
        self.state = "running"

    def release(self) -> None:
        if self.state == "queued":
            self._admission.queued -= 1
        elif self.state == "running":
            self._admission.in_flight -= 1
            self._admission._slots.release()
        self.state = "done"


async def admitted(ticket: Ticket, work: Callable[[], Awaitable[T]]) -> T:
    """Wait for the ticket's slot, run `work`, free the slot however it ends."""
    await ticket.wait()
    try:
        return await work()
    finally:
        ticket.release()


class ClientGone(Exception):
    """The client disconnected; its run was cancelled."""


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it as soon as the client disconnects (no orphan LLM calls).

    Call only after the body was read: the next ASGI message is then the disconnect.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
    if task.cancelled():
        raise ClientGone("client disconnected")
    return task.result()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def read_json(request: Request, model: type[M], max_bytes: int) -> M:
    """The body parsed as `model`; 413 past `max_bytes` (counted as it arrives), 400 if invalid."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(int(declared), max_bytes)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > max_bytes:
                raise _too_large(len(body), max_bytes)
    except ClientDisconnect as exc:
        raise ClientGone("client disconnected while sending") from exc
    try:
        return model.model_validate_json(bytes(body))
    except ValidationError as exc:
        where, what = first_problem(exc)
        if exc.errors()[0]["type"] == "json_invalid":
            raise ApiError(400, f"request body is not valid JSON: {what}") from exc
        raise ApiError(
            400, f"invalid request: {where}: {what}", param=where or None, code="invalid_value"
        ) from exc


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        f"request body of {size} bytes is over the limit of {limit} (server.max_request_bytes)",
        code="request_too_large",
    )
