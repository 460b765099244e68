"""POST /v1/rerank (and /v2/rerank): the Cohere / Jina shape that vLLM, TEI and LiteLLM
serve, over rankgraph's LLM rerankers, so their clients can swap rankgraph in.

`model` names a method (`pointwise`, `setwise`, …; the pipeline's own method keeps
its configured options) or a `server.rerank_profiles` entry; empty means the
pipeline's method. A request's documents carry no first-stage scores, so the order
they are listed in counts for nothing. `relevance_score` is the method's own score
where it has one (e.g. pointwise P(Yes)), else 1 − rank/n: compare scores within one
response only.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rankgraph import rerank
from rankgraph.agents.rerank import moves
from rankgraph.errors import ConfigError
from rankgraph.rerank.base import Reranker, RerankResult
from rankgraph.schema import Passage
from rankgraph.serve.errors import ApiError, not_found
from rankgraph.serve.limits import ClientGone, admitted, read_json, until_disconnect
from rankgraph.serve.schemas import RerankItem, RerankRequest, RerankResponse, UsageOut
from rankgraph.serve.state import ServerState, server_state
from rankgraph.serve.traces import RunRecord, new_id
from rankgraph.trace import step


def model_names(state: ServerState) -> list[str]:
    return [*rerank.METHODS, *state.settings.server.rerank_profiles]


def reranker_for(state: ServerState, name: str) -> Reranker:
    """The reranker a request's `model` names, built once and reused."""
    if name in state.rerankers:
        return state.rerankers[name]
    profile: dict[str, Any] | None = state.settings.server.rerank_profiles.get(name)
    if profile is None and name not in rerank.METHODS:
        raise not_found(
            f"rerank model {name!r} not found; choose one of {', '.join(model_names(state))}",
            code="model_not_found",
        )
    if profile is None and name == state.pipeline.deps.reranker.name:
        built = state.pipeline.deps.reranker
    elif profile is None:  # the judges' LLM: `[judge]` when set, else `[llm]`
        built = rerank.build(name, state.pipeline.deps.judge)
    else:
        judge = state.pipeline.deps.judge
        built = rerank.build(profile.get("method", ""), judge, **profile.get("options", {}))
    state.rerankers[name] = built
    return built


def check_profiles(state: ServerState) -> None:
    """Build every configured profile at start-up, so a typo fails there, not on a call."""
    for name, profile in state.settings.server.rerank_profiles.items():
        unknown = set(profile) - {"method", "options"}
        if unknown or "method" not in profile:
            raise ConfigError(
                f"server.rerank_profiles.{name}: needs `method` and optional `options`, "
                f"got {sorted(profile)}"
            )
        reranker_for(state, name)


def scores(result: RerankResult) -> list[float]:
    """Per rank: the method's score, else 1 − rank/n when any passage has none."""
    n = len(result.passages)
    if all(p.score is not None for p in result.passages):
        return [float(p.score or 0.0) for p in result.passages]
    return [1.0 - rank / n for rank in range(n)]


async def rerank_documents(request: Request) -> Response:
    state = server_state(request)
    server = state.settings.server
    body = await read_json(request, RerankRequest, server.max_request_bytes)
    if not body.query.strip():
        raise ApiError(400, "the query is empty or only whitespace", param="query")
    texts = body.texts()
    if len(texts) > server.rerank_max_documents:
        raise ApiError(
            400,
            f"{len(texts)} documents; at most {server.rerank_max_documents} per call "
            "(server.rerank_max_documents)",
            param="documents",
            code="too_many_documents",
        )
    name = body.model or state.pipeline.deps.reranker.name
    reranker = reranker_for(state, name)
    passages = [Passage(id=f"doc-{i}", text=text) for i, text in enumerate(texts)]
    run_id = new_id("rerank")
    ticket = state.admission.reserve()
    try:
        result = await until_disconnect(
            request,
            admitted(ticket, lambda: reranker.rerank(body.query, passages, top_k=body.top_n)),
        )
    except ClientGone:
        return Response(status_code=499)
    finally:
        ticket.release()  # also when the run was cancelled before it started
    summary = step(
        "rerank",
        method=result.method,
        before=[p.id for p in passages],
        after=[p.id for p in result.passages],
        moves=moves(passages, result.passages),
        failures=result.failures,
        repairs=result.repairs,
    )
    calls = [e for e in result.events if e.kind == "llm"]
    failed = bool(calls) and all(e.error for e in calls)
    await state.traces.save(
        RunRecord(
            id=run_id,
            kind="rerank",
            model=name,
            question=body.query,
            documents=passages,
            trace=[*result.events, summary],
            status="error" if failed else "ok",
            error=calls[0].error if failed else None,
        )
    )
    if failed:
        raise ApiError(
            503,
            f"every rerank call failed ({calls[0].error}); trace {run_id}",
            type="server_error",
            code="engine_unavailable",
            extra={"trace_id": run_id},
        )
    index = {p.id: i for i, p in enumerate(passages)}
    top = body.top_n or len(passages)
    results = [
        RerankItem(
            index=index[p.id],
            relevance_score=score,
            document={"text": p.text} if body.return_documents else None,
        )
        for p, score in list(zip(result.passages, scores(result), strict=True))[:top]
    ]
    response = RerankResponse(
        id=run_id,
        model=name,
        results=results,
        usage=UsageOut.of(result.usage),
        meta={
            "trace_url": f"/traces/{run_id}",
            "failures": result.failures,
            "repairs": result.repairs,
            "budget_exhausted": result.budget_exhausted,
        },
    )
    return JSONResponse(response.model_dump(mode="json", exclude_none=True))
