"""Chroma server mode: a real `chroma run` on loopback, and index, search and ask against it.

This is the deployment in which several machines share one store (docs/deployment.md):
writers and readers in separate processes, so the concurrent tests here run `rankgraph
index` as subprocesses while this process searches.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rankgraph.config import Settings
from rankgraph.engine import EngineState
from rankgraph.llm import LLMClient
from rankgraph.pipeline_config import PipelineConfig
from rankgraph.retrieval import Retriever, Store, index_paths
from tests.retrieval_fixtures import shared_embedder

REPO_PARENT = Path(__file__).resolve().parents[2]
CHROMA = Path(sys.executable).with_name("chroma")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMA.is_file():
        pytest.skip(f"no chroma command beside {sys.executable}")
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    log = (path / "server.log").open("wb")
    server = subprocess.Popen(
        [
            str(CHROMA),
            "run",
            "--path",
            str(path / "db"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chroma run did not start: {(path / 'server.log').read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _settings(root: Path, chroma_url: str, **extra: Any) -> Settings:
    return Settings(data_dir=root / "data", retrieval={"chroma_url": chroma_url}, **extra)


def _folder(root: Path, name: str, docs: int) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for i in range(docs):
        (folder / f"{i}.txt").write_text(f"The {name}{i} creature lives in the {name} valley.")
    return folder


def test_index_and_search_against_a_chroma_server(tmp_path: Path, chroma_url: str) -> None:
    settings = _settings(tmp_path, chroma_url)
    store = Store.from_settings(settings, "served", embedder=shared_embedder())
    report = index_paths(store, [_folder(tmp_path, "okapi", 3)])
    assert len(report.added) == 3
    retriever = Retriever(store, settings.retrieval)
    for mode in ("dense", "bm25", "hybrid"):
        top = retriever.search("okapi1 creature", k=1, mode=mode)  # type: ignore[arg-type]
        assert top and top[0].source is not None and top[0].source.endswith("okapi/1.txt")
    assert Store.from_settings(settings, "served", embedder=shared_embedder()).count() == 3


def test_concurrent_index_processes_and_queries_share_one_server(
    tmp_path: Path, chroma_url: str
) -> None:
    config = tmp_path / "rg.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[retrieval]\nchroma_url = "{chroma_url}"\n'
        "write_batch = 2\n"
    )
    folders = [_folder(tmp_path, name, 6) for name in ("ibex", "tapir")]
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO_PARENT))}
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rankgraph.cli",
                "index",
                str(folder),
                "--collection",
                "both",
                "--config",
                str(config),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in folders
    ]
    settings = _settings(tmp_path, chroma_url)
    store = Store.from_settings(settings, "both", embedder=shared_embedder())
    retriever = Retriever(store, settings.retrieval)
    searches = 0
    while any(w.poll() is None for w in writers):
        if store.exists() and store.count():
            retriever.search("creature valley", k=5, mode="hybrid")  # must never fail mid-write
            searches += 1
        time.sleep(0.2)
    for writer in writers:
        _, err = writer.communicate()
        assert writer.returncode == 0, err
    assert store.count() == 12
    found = store.bm25([f"{name}{i}" for name in ("ibex", "tapir") for i in range(6)], 1)
    assert all(len(hits) == 1 for hits in found)


@pytest.mark.engine
async def test_ask_answers_from_a_chroma_server(
    tmp_path: Path, chroma_url: str, engine: EngineState, engine_settings: Settings, llm: LLMClient
) -> None:
    from rankgraph.agents import Pipeline

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "lovelace.md").write_text(
        "# Ada Lovelace\n\nAda Lovelace wrote the first published computer program."
    )
    pipeline = {
        "collection": "ask-served",
        "retrieve": {"mode": "hybrid", "k": 2},
        "rerank": {"method": "none", "top_k": 2},
        "generate": {"max_tokens": 32},
        "loop": {"max_rounds": 1},
    }
    settings = engine_settings.model_copy(
        update={
            "data_dir": tmp_path / "data",
            "retrieval": engine_settings.retrieval.model_copy(update={"chroma_url": chroma_url}),
        }
    ).with_pipeline(PipelineConfig.model_validate(pipeline))
    index_paths(Store.from_settings(settings, "ask-served", embedder=shared_embedder()), [folder])
    pipe = Pipeline.from_config(settings, client=llm)
    try:
        answer = await pipe.ask("Who wrote the first computer program?")
    finally:
        await pipe.aclose()
    retrieved = next(e for e in answer.trace if e.node == "retrieve").data["ids"]
    assert retrieved, "the served collection returned nothing"
