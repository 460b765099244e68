"""What a client sees when the engine fails mid-answer: the server runs over a scripted
OpenAI-compatible endpoint that answers every completion with a 500 (a fault the
real engine cannot produce on demand). The run's partial trace is still stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import APIError, AsyncOpenAI, InternalServerError

from rankgraph.config import load_settings
from rankgraph.retrieval import Store, index_paths
from tests.scripted_server import error_reply, serve
from tests.serve_fixtures import free_port, running_server, write_config, write_docs

COLLECTION = "serve-faults"
MODEL = f"rankgraph/{COLLECTION}"


@pytest.fixture(scope="module")
def failing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("serve-faults")
    data_dir = workdir / "data"
    settings = load_settings(None, data_dir=data_dir)
    index_paths(Store.from_settings(settings, COLLECTION), [write_docs(workdir / "docs")])
    with serve([error_reply(500, "engine fell over")]) as engine:
        config = write_config(
            workdir / "rankgraph.toml",
            {
                "data_dir": data_dir,
                "llm": {"base_urls": [engine.base_url], "max_attempts": 1},
                "pipeline": {
                    "collection": COLLECTION,
                    "retrieve": {"mode": "bm25", "k": 3},
                    "rerank": {"method": "none"},
                    "filter": {"mode": "off"},
                },
            },
        )
        with running_server(config, workdir) as base:
            yield base


async def test_engine_failure_is_an_openai_error_and_the_failed_trace_is_stored(
    failing_server: str,
) -> None:
    client = AsyncOpenAI(base_url=f"{failing_server}/v1", api_key="none", max_retries=0)
    with pytest.raises(InternalServerError) as info:
        await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Who was Ada Lovelace?"}]
        )
    error = info.value.body
    assert isinstance(error, dict) and error["code"] == "engine_unavailable"
    assert info.value.status_code == 503 and "generate" in error["message"]
    async with httpx.AsyncClient() as http:
        stored = (await http.get(f"{failing_server}/v1/traces/{error['trace_id']}")).json()
        page = await http.get(f"{failing_server}/traces/{error['trace_id']}")
    assert stored["status"] == "error" and "engine fell over" in stored["error"]
    assert [e["node"] for e in stored["trace"]] == [
        "rewrite",
        "retrieve",
        "rerank",
        "filter",
        "generate",
    ]
    assert page.status_code == 200 and "engine fell over" in page.text


async def test_engine_failure_mid_stream_is_an_error_event_then_done(failing_server: str) -> None:
    client = AsyncOpenAI(base_url=f"{failing_server}/v1", api_key="none", max_retries=0)
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Who was Ada Lovelace?"}], stream=True
    )
    seen = []
    with pytest.raises(APIError, match="generate"):
        async for chunk in stream:
            seen.append(chunk)
    assert seen and seen[0].choices[0].delta.role == "assistant"  # the stream had begun
    async with httpx.AsyncClient() as http:
        body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "Who?"}]}
        raw = await http.post(f"{failing_server}/v1/chat/completions", json=body, timeout=60)
    events = [line for line in raw.text.splitlines() if line.startswith("data: ")]
    assert '"error"' in events[-2] and events[-1] == "data: [DONE]"


def test_ready_probes_the_judges_own_endpoint_too(tmp_path: Path) -> None:
    """`[judge]` with endpoints of its own: /ready fails, naming the judge's URL, when
    they are down though the answering engine is up."""
    data_dir = tmp_path / "data"
    settings = load_settings(None, data_dir=data_dir)
    index_paths(Store.from_settings(settings, COLLECTION), [write_docs(tmp_path / "docs")])
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with serve([error_reply(500, "not asked")]) as engine:
        config = write_config(
            tmp_path / "rankgraph.toml",
            {
                "data_dir": data_dir,
                "llm": {"base_urls": [engine.base_url], "max_attempts": 1},
                "judge": {"base_urls": [dead], "model": "judge-model"},
                "pipeline": {"collection": COLLECTION, "rerank": {"method": "pointwise"}},
            },
        )
        with running_server(config, tmp_path) as base:
            ready = httpx.get(f"{base}/ready")
    assert ready.status_code == 503, ready.text
    body = ready.json()
    assert body["checks"] == {"engine": True, "collection": True, "judge": False}
    assert body["engine"] == "reachable" and body["judge"].startswith(f"{dead}: ConnectError")
