"""The app factory: one pipeline built at start-up and shared by every request.

    app = create_app(settings)     # FastAPI; uvicorn runs it (`rankgraph serve`)

Nothing is global: the lifespan builds the LLM client, retriever, pipeline, trace
store and admission limits into a `ServerState` on `app.state`, and closes them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

import httpx
from fastapi import Depends, FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles

from rankgraph.agents import Pipeline
from rankgraph.config import Settings
from rankgraph.errors import InputError, RankgraphError
from rankgraph.llm.client import LLMClient
from rankgraph.retrieval import Retriever
from rankgraph.serve.auth import authorize
from rankgraph.serve.chat import chat_completions
from rankgraph.serve.errors import ApiError, not_found
from rankgraph.serve.limits import Admission
from rankgraph.serve.reranking import check_profiles, rerank_documents
from rankgraph.serve.schemas import ModelCard, ModelList
from rankgraph.serve.state import ServerState, server_state
from rankgraph.serve.trace_page import render_missing, render_trace
from rankgraph.serve.traces import TraceStore

log = logging.getLogger(__name__)


async def build_state(settings: Settings) -> ServerState:
    """Everything the routes share; the retriever opens its store off the event loop."""
    config = settings.pipeline
    collection = config.collection or settings.retrieval.collection
    server = settings.server
    client = LLMClient.from_settings(settings)
    retriever = await asyncio.to_thread(Retriever.from_settings, settings, collection)
    pipeline = Pipeline.from_config(settings, client=client, retriever=retriever)
    state = ServerState(
        settings=settings,
        model_id=server.model_name or f"rankgraph/{collection}",
        collection=collection,
        pipeline=pipeline,
        client=client,
        retriever=retriever,
        admission=Admission(server.max_in_flight, server.max_queue, server.retry_after_s),
        traces=TraceStore(
            settings.data_dir / "traces",
            max_count=server.trace_max_count,
            max_age_days=server.trace_max_age_days,
        ),
        started=int(time.time()),
    )
    check_profiles(state)
    await asyncio.to_thread(state.traces.prune)
    return state


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await build_state(settings)
        app.state.rankgraph = state
        try:
            yield
        finally:
            await state.pipeline.aclose()
            await state.client.close()

    # No Swagger/ReDoc pages: they load from a CDN, unreachable on closed networks.
    app = FastAPI(
        title="rankgraph", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    _errors(app)
    keyed = [Depends(_require_key)]
    app.add_api_route("/health", health, methods=["GET"])
    app.add_api_route("/ready", ready, methods=["GET"])
    app.add_api_route("/v1/models", models, methods=["GET"], dependencies=keyed)
    app.add_api_route(
        "/v1/chat/completions", chat_completions, methods=["POST"], dependencies=keyed
    )
    for path in ("/v1/rerank", "/v2/rerank", "/rerank"):
        app.add_api_route(path, rerank_documents, methods=["POST"], dependencies=keyed)
    app.add_api_route("/v1/traces/{run_id}", trace_json, methods=["GET"], dependencies=keyed)
    app.add_api_route("/traces/{run_id}", trace_html, methods=["GET"], dependencies=keyed)
    app.add_api_route("/", chat_page, methods=["GET"])
    static = files("rankgraph.serve").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app


def _require_key(request: Request) -> None:
    authorize(request, server_state(request).settings.server.api_keys)


def _errors(app: FastAPI) -> None:
    """Every error leaves in the OpenAI shape, whatever raised it."""

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return ApiError(exc.status_code, str(exc.detail), type=kind).response()

    async def library_error(request: Request, exc: Exception) -> Response:
        status = 400 if isinstance(exc, InputError) else 500
        kind = "invalid_request_error" if status == 400 else "server_error"
        return ApiError(status, str(exc), type=kind).response()

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        error = ApiError(500, f"internal error: {type(exc).__name__}", type="server_error")
        return error.response()

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RankgraphError, library_error)
    app.add_exception_handler(Exception, unexpected)


async def health(request: Request) -> dict[str, Any]:
    """The process is up; also how busy it is."""
    admission = server_state(request).admission
    return {"status": "ok", "in_flight": admission.in_flight, "queued": admission.queued}


async def ready(request: Request) -> Response:
    """Every LLM endpoint reachable (the judges' too, when `[judge]` names its own) and
    the collection present with passages: ready to answer."""
    state = server_state(request)
    clients: dict[str, LLMClient] = {"engine": state.client}
    judge = state.pipeline.deps.judge_client
    if isinstance(judge, LLMClient):  # `[judge]` names an LLM of its own
        clients["judge"] = judge
    failed = {name: await _unreachable(client) for name, client in clients.items()}
    try:
        passages = await asyncio.to_thread(state.retriever.count)
    except RankgraphError as exc:
        log.warning("collection check failed: %s", exc)
        passages = 0
    checks = {name: error is None for name, error in failed.items()} | {"collection": passages > 0}
    body = {
        "status": "ready" if all(checks.values()) else "not_ready",
        "checks": checks,
        **{name: error or "reachable" for name, error in failed.items()},
        "collection": state.collection,
        "passages": passages,
    }
    return JSONResponse(body, status_code=200 if all(checks.values()) else 503)


async def _unreachable(client: LLMClient) -> str | None:
    """None when every endpoint of `client` lists its models, else what failed."""
    if not client.base_urls:
        return "no LLM endpoint configured"
    # the client's key: the discovered engine's per-start key, else llm.api_key
    headers = {"Authorization": f"Bearer {client.settings.api_key}"}
    async with httpx.AsyncClient(timeout=3.0, headers=headers) as http:
        for url in client.base_urls:
            try:
                (await http.get(f"{url}/models")).raise_for_status()
            except httpx.HTTPError as exc:
                return f"{url}: {type(exc).__name__}: {exc}"
    return None


async def models(request: Request) -> dict[str, Any]:
    state = server_state(request)
    return ModelList(data=[ModelCard(id=state.model_id, created=state.started)]).model_dump()


async def trace_json(request: Request, run_id: str) -> Response:
    record = await server_state(request).traces.get(run_id)
    if record is None:
        raise not_found(f"no trace {run_id!r} (expired or never stored)")
    return Response(record.model_dump_json(), media_type="application/json")


async def trace_html(request: Request, run_id: str) -> HTMLResponse:
    record = await server_state(request).traces.get(run_id)
    if record is None:
        return HTMLResponse(render_missing(run_id), status_code=404)
    return HTMLResponse(render_trace(record))


async def chat_page(request: Request) -> HTMLResponse:
    page = files("rankgraph.serve").joinpath("templates", "chat.html").read_text("utf-8")
    return HTMLResponse(page)
