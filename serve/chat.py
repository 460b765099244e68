"""POST /v1/chat/completions over the pipeline: plain, or streamed as server-sent events.

The last user message is the question. Without a thread id the earlier user/assistant
messages are the history the rewrite agent reads (stateless, as the API defines it);
a thread id (`X-Thread-Id` header, else the `user` field) uses the stored thread
memory instead. System messages are ignored: the pipeline's prompts govern.

A stream sends the graph's progress as `reasoning_content` deltas (chat UIs show
them as the model's thinking), then the answer a sentence at a time as the citation
check passes it (the content deltas add up to exactly the final answer: a draft that
ends in an abstention is never sent), then a chunk with `finish_reason="stop"` and
the `rankgraph` object (final text, citations, trace id), an optional usage chunk
and `data: [DONE]`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rankgraph.agents import Answer, NodeFailed, PipelineEvent
from rankgraph.agents.state import Turn
from rankgraph.errors import LLMUnavailable, RankgraphError
from rankgraph.serve.errors import ApiError, engine_failed, not_found
from rankgraph.serve.limits import ClientGone, Ticket, admitted, read_json, until_disconnect
from rankgraph.serve.schemas import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    ChunkChoice,
    CitationOut,
    Delta,
    Message,
    RankgraphInfo,
    UsageOut,
)
from rankgraph.serve.sse import EventStream, sse_error
from rankgraph.serve.state import ServerState, server_state
from rankgraph.serve.traces import RunRecord, new_id
from rankgraph.trace import TraceEvent, total_usage


def conversation(
    messages: list[ChatMessage], *, max_chars: int, max_messages: int
) -> tuple[str, list[Turn]]:
    """(question, earlier turns) from an OpenAI message list; ApiError 400 when unusable."""
    if len(messages) > max_messages:
        raise ApiError(400, f"{len(messages)} messages; at most {max_messages}", param="messages")
    try:
        turns = [
            Turn(role=m.role, content=m.text()) for m in messages if m.role in {"user", "assistant"}
        ]
    except ValueError as exc:
        raise ApiError(400, str(exc), param="messages") from exc
    if not turns or turns[-1]["role"] != "user" or not turns[-1]["content"].strip():
        raise ApiError(400, "the last message must be a non-empty user message", param="messages")
    question = turns[-1]["content"]
    if len(question) > max_chars:
        raise ApiError(
            400,
            f"question of {len(question)} characters is over the limit of {max_chars} "
            "(pipeline.max_question_chars)",
            param="messages",
            code="question_too_long",
        )
    return question, [t for t in turns[:-1] if t["content"].strip()]


def progress_line(node: str | None, update: dict[str, Any]) -> str | None:
    """One line per finished node for the reasoning stream; None for generate."""
    steps = [e for e in update.get("trace", []) if e.kind == "step"]
    data = steps[-1].data if steps else {}
    method = f" ({steps[-1].method})" if steps and steps[-1].method else ""
    if node == "rewrite":
        queries = update.get("queries", [])
        return f"rewrite{method}: {len(queries)} queries: " + " | ".join(queries) + "\n"
    if node == "retrieve":
        return f"retrieve (round {data.get('round', '?')}): {data.get('found', '?')} found\n"
    if node == "rerank":
        moved = len(data.get("moves", []))
        return f"rerank{method}: top {len(update.get('reranked', []))}, {moved} moved\n"
    if node == "filter":
        tau = data.get("tau")
        threshold = f", τ={tau:.2f}" if isinstance(tau, float) else ""
        judged = len(data.get("scores", {})) or len(update.get("kept", []))
        return f"filter{method}: kept {len(update.get('kept', []))} of {judged}{threshold}\n"
    if node == "generate" or node is None:
        return None
    return f"{node}: done\n"


def citations_out(answer: Answer) -> list[CitationOut]:
    return [
        CitationOut(
            **c.model_dump(),
            text=answer.passages[c.n - 1].text if 0 < c.n <= len(answer.passages) else "",
        )
        for c in answer.citations
    ]


class ChatRun:
    """One request's run of the pipeline; stores its record however it ends."""

    def __init__(
        self, state: ServerState, question: str, history: list[Turn], thread_id: str | None
    ) -> None:
        self.state = state
        self.id = new_id("chatcmpl")
        self.created = int(time.time())
        self.question = question
        self.history = history
        self.thread_id = thread_id
        self.trace: list[TraceEvent] = []
        self.answer: Answer | None = None

    async def events(self) -> AsyncIterator[PipelineEvent]:
        started = time.perf_counter()
        record = RunRecord(
            id=self.id,
            kind="chat",
            model=self.state.model_id,
            question=self.question,
            history=[dict(t) for t in self.history],
            thread_id=self.thread_id,
            status="error",
        )
        try:
            pipe = self.state.pipeline
            async for event in pipe.events(self.question, self.thread_id, history=self.history):
                if event.type == "node":
                    self.trace.extend(event.update.get("trace", []))
                if event.answer is not None:
                    self.answer = event.answer
                    self.trace = event.answer.trace
                yield event
            record.status = "ok"
        except NodeFailed as exc:
            self.trace, record.error = exc.trace, str(exc)
            raise
        except Exception as exc:  # recorded, then raised on: the route shapes the error
            record.error = f"{type(exc).__name__}: {exc}"
            raise
        except (asyncio.CancelledError, GeneratorExit):
            record.status, record.error = "cancelled", "client disconnected; run cancelled"
            raise
        finally:
            record.trace = self.trace
            record.wall_ms = (time.perf_counter() - started) * 1000
            if self.answer is not None:
                record.answer = self.answer.model_copy(update={"trace": []})
                record.node_ms = self.answer.node_ms
            with anyio.CancelScope(shield=True):  # a cancelled run is stored too
                await self.state.traces.save(record)

    def info(self, answer: Answer) -> RankgraphInfo:
        return RankgraphInfo(
            trace_id=self.id,
            trace_url=f"/traces/{self.id}",
            answer=answer.answer,
            citations=citations_out(answer),
            abstained=answer.abstained,
            abstain_reason=answer.abstain_reason,
            thread_id=self.thread_id,
        )

    def usage(self) -> UsageOut:
        return UsageOut.of(total_usage(self.trace))


def failure(run: ChatRun, exc: RankgraphError) -> ApiError:
    """The OpenAI-shaped error for a run that failed in the pipeline (trace kept)."""
    if isinstance(exc, NodeFailed):
        return engine_failed(str(exc), run.id, unavailable=isinstance(exc.cause, LLMUnavailable))
    return ApiError(400, str(exc), code="invalid_input", extra={"trace_id": run.id})


async def chat_completions(request: Request) -> Response:
    state = server_state(request)
    server = state.settings.server
    body = await read_json(request, ChatCompletionRequest, server.max_request_bytes)
    if body.model != state.model_id:
        raise not_found(
            f"model {body.model!r} is not served here; served: {state.model_id}",
            code="model_not_found",
        )
    thread_id = request.headers.get("x-thread-id") or body.user
    question, history = conversation(
        body.messages,
        max_chars=state.pipeline.config.max_question_chars,
        max_messages=server.max_messages,
    )
    run = ChatRun(state, question, [] if thread_id else history, thread_id)
    ticket = state.admission.reserve()
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return EventStream(_chunks(run, ticket, include_usage), on_close=ticket.release)
    try:
        answer = await until_disconnect(request, admitted(ticket, lambda: _answer(run)))
    except RankgraphError as exc:
        raise failure(run, exc) from exc
    except ClientGone:
        return Response(status_code=499)
    finally:
        ticket.release()  # also when the run was cancelled before it started
    completion = ChatCompletion(
        id=run.id,
        created=run.created,
        model=state.model_id,
        choices=[Choice(message=Message(content=answer.answer))],
        usage=run.usage(),
        rankgraph=run.info(answer),
    )
    return JSONResponse(completion.model_dump(mode="json"))


async def _answer(run: ChatRun) -> Answer:
    async for _ in run.events():
        pass
    assert run.answer is not None
    return run.answer


async def _chunks(run: ChatRun, ticket: Ticket, include_usage: bool) -> AsyncIterator[str]:
    """The SSE body: progress, content tokens, the final chunk(s), `[DONE]`."""
    progress = run.state.settings.server.progress != "off"

    def chunk(delta: Delta, **extra: Any) -> str:
        choice = ChunkChoice(delta=delta, finish_reason=extra.pop("finish_reason", None))
        return ChatCompletionChunk(
            id=run.id, created=run.created, model=run.state.model_id, choices=[choice], **extra
        ).sse()

    await ticket.wait()
    yield chunk(Delta(role="assistant", content=""))
    try:
        async for event in run.events():
            if event.type == "node" and progress:
                line = progress_line(event.node, event.update)
                if line:
                    yield chunk(Delta(reasoning_content=line))
            elif event.type == "checked" and event.text:
                yield chunk(Delta(content=event.text))
    except RankgraphError as exc:
        yield sse_error(failure(run, exc).body())
        yield "data: [DONE]\n\n"
        return
    answer = run.answer
    assert answer is not None
    info = run.info(answer)
    yield chunk(Delta(), finish_reason="stop", rankgraph=info)
    if include_usage:
        yield ChatCompletionChunk(
            id=run.id,
            created=run.created,
            model=run.state.model_id,
            choices=[],
            usage=run.usage(),
            rankgraph=info,
        ).sse()
    yield "data: [DONE]\n\n"
