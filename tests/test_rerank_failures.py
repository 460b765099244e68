"""The failure policy: a run in which LLM calls failed never passes as a result.

The commands talk to a scripted OpenAI-compatible server on loopback (a 500 on every
call) or to a port where nothing listens: faults the real engine cannot be made to
produce on demand. The engine-backed test that kills a real engine mid-run is in
test_engine_lifecycle.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rankgraph.cli import app
from rankgraph.errors import LLMCallsFailed, LLMUnavailable
from rankgraph.preflight import check_endpoints
from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.rerank.batch import degraded_queries, rerank_queries
from rankgraph.rerank.candidates import Query
from rankgraph.schema import Passage
from rankgraph.trace import TraceEvent
from tests.scripted_server import Reply, chat_reply, error_reply, serve

DEAD_URL = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there


def data_folder(root: Path) -> Path:
    lines = [
        {
            "qid": str(q),
            "query": f"query {q}",
            "candidates": [
                {"docid": f"d{q}{i}", "text": f"text {i}", "score": 3 - i} for i in range(3)
            ],
        }
        for q in (1, 2)
    ]
    root.mkdir(parents=True, exist_ok=True)
    (root / "candidates.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (root / "qrels.txt").write_text("1 0 d12 3\n2 0 d21 2\n")
    return root


def config_for(root: Path, url: str) -> Path:
    config = root / "rankgraph.toml"
    config.write_text(
        f'data_dir = "{root / "data"}"\n[llm]\nbase_urls = ["{url}"]\nmodel = "scripted"\n'
        "max_attempts = 1\nbackoff_initial_s = 0\ntimeout_s = 5\n"
    )
    return config


class FailsOnce:
    """A reranker whose result for query "bad" records one failed call."""

    name = "scripted"

    async def rerank(
        self,
        query: str,
        passages: Sequence[Passage],
        *,
        top_k: int | None = None,
        budget: Budget | None = None,
    ) -> RerankResult:
        failed = query == "bad"
        events = [TraceEvent(node="rerank", error="LLMUnavailable: no reply")] if failed else []
        return RerankResult(
            query=query,
            method=self.name,
            passages=list(passages),
            order=list(range(len(passages))),
            events=events,
            failures=int(failed),
        )


QUERIES = [
    Query("1", "good", (Passage(id="a", text="a"),)),
    Query("2", "bad", (Passage(id="b", text="b"),)),
]


async def test_rerank_queries_raises_on_a_failed_call_naming_the_query_and_cause() -> None:
    with pytest.raises(
        LLMCallsFailed, match=r"query '2': 1 of 1 LLM calls failed \(LLMUnavailable"
    ):
        await rerank_queries(FailsOnce(), QUERIES)


async def test_keep_order_returns_the_results_and_names_the_degraded_queries() -> None:
    results = await rerank_queries(FailsOnce(), QUERIES, on_failure="keep_order")
    assert degraded_queries(QUERIES, results) == ["2"]


async def test_check_endpoints_fails_fast_naming_the_dead_url() -> None:
    started = time.perf_counter()
    with pytest.raises(LLMUnavailable, match=r"http://127\.0\.0\.1:9/v1 \(ConnectError"):
        await check_endpoints([DEAD_URL])
    assert time.perf_counter() - started < 5


def test_rerank_with_an_unreachable_engine_exits_1_naming_the_url_and_writes_nothing(
    tmp_path: Path,
) -> None:
    data = data_folder(tmp_path / "d")
    out = tmp_path / "run.trec"
    args = ["rerank", "-i", str(data / "candidates.jsonl"), "-m", "pointwise", "-o", str(out)]
    started = time.perf_counter()
    result = CliRunner().invoke(app, [*args, "--config", str(config_for(tmp_path, DEAD_URL))])
    assert result.exit_code == 1
    assert "no LLM endpoint answers: http://127.0.0.1:9/v1" in result.stderr
    assert not out.exists()
    assert time.perf_counter() - started < 15


def test_rerank_whose_calls_fail_exits_1_says_what_failed_and_writes_nothing(
    tmp_path: Path,
) -> None:
    data = data_folder(tmp_path / "d")
    out = tmp_path / "run.trec"
    with serve([error_reply(500)]) as server:
        config = config_for(tmp_path, server.base_url)
        args = ["rerank", "-i", str(data / "candidates.jsonl"), "-m", "pointwise"]
        result = CliRunner().invoke(app, [*args, "-o", str(out), "--config", str(config)])
    assert result.exit_code == 1
    assert "3 of 3 LLM calls failed" in result.stderr
    assert "--allow-failures" in result.stderr
    assert not out.exists()


def test_allow_failures_writes_a_run_tagged_degraded_and_warns(tmp_path: Path) -> None:
    data = data_folder(tmp_path / "d")
    with serve([error_reply(500)]) as server:
        config = config_for(tmp_path, server.base_url)
        args = ["rerank", "-i", str(data / "candidates.jsonl"), "-m", "pointwise"]
        result = CliRunner().invoke(app, [*args, "--allow-failures", "--config", str(config)])
    assert result.exit_code == 0, result.stderr
    tags = {line.split()[-1] for line in result.stdout.splitlines()}
    assert tags == {"rankgraph-pointwise-degraded"}
    assert "degraded run: 6 LLM calls failed in 2 queries" in result.stderr


def test_eval_rerank_with_failed_calls_prints_no_metrics_and_exits_1(tmp_path: Path) -> None:
    data = data_folder(tmp_path / "d")
    with serve([error_reply(500)]) as server:
        config = config_for(tmp_path, server.base_url)
        args = ["eval", "rerank", "--data", str(data), "-m", "pointwise", "--json"]
        result = CliRunner().invoke(app, [*args, "--config", str(config)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "LLM calls failed" in result.stderr


def test_eval_rerank_allowed_to_degrade_says_so_in_its_json(tmp_path: Path) -> None:
    data = data_folder(tmp_path / "d")
    with serve([error_reply(500)]) as server:
        config = config_for(tmp_path, server.base_url)
        args = ["eval", "rerank", "--data", str(data), "-m", "pointwise", "--json"]
        result = CliRunner().invoke(app, [*args, "--allow-failures", "--config", str(config)])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["degraded"] is True
    assert report["degraded_qids"] == ["1", "2"]
    assert report["cost"]["failures"] == 6


def test_eval_rerank_table_of_a_degraded_run_is_titled_degraded(tmp_path: Path) -> None:
    data = data_folder(tmp_path / "d")
    with serve([error_reply(500)]) as server:
        config = config_for(tmp_path, server.base_url)
        args = ["eval", "rerank", "--data", str(data), "-m", "pointwise", "--allow-failures"]
        result = CliRunner().invoke(app, [*args, "--config", str(config)])
    assert result.exit_code == 0, result.stderr
    assert "DEGRADED" in result.stdout


def test_an_engine_that_dies_mid_eval_fails_the_run_and_the_rerun_resumes_from_the_cache(
    tmp_path: Path,
) -> None:
    """The engine here is a scripted server shut down mid-run: killing the real engine
    would take the shared test engine down with it, and a second real engine does not
    fit beside it on a 2-core machine. The failure path in rankgraph is the same: the
    endpoint stops answering between calls."""
    data = data_folder(tmp_path / "d")
    yes = chat_reply("Yes", top={"Yes": -0.2, "No": -1.8})
    slow_yes = Reply(status=yes.status, body=yes.body, delay_s=0.05)
    first_run = tmp_path / "first.trec"
    outcome: dict[str, Any] = {}
    with serve([slow_yes]) as server:
        config = config_for(tmp_path, server.base_url)
        args = ["eval", "rerank", "--data", str(data), "-m", "pointwise", "--concurrency", "1"]
        args += ["--config", str(config), "-O", "fusion=none", "-o", str(first_run)]

        def run() -> None:
            outcome["result"] = CliRunner().invoke(app, args)

        worker = threading.Thread(target=run)
        worker.start()
        while len(server.requests) < 2 and worker.is_alive():
            time.sleep(0.01)
    worker.join()  # the server is gone: the remaining calls fail
    died = outcome["result"]
    assert died.exit_code == 1
    assert "LLM calls failed" in died.stderr
    assert not first_run.exists()

    rerun, replay = tmp_path / "rerun.trec", tmp_path / "replay.trec"
    with serve([yes]) as server:
        config = config_for(tmp_path, server.base_url)
        args = ["eval", "rerank", "--data", str(data), "-m", "pointwise", "--json"]
        args += ["--config", str(config), "-O", "fusion=none", "-o", str(rerun)]
        resumed = CliRunner().invoke(app, args)
        fresh_calls = len(server.requests)
    assert resumed.exit_code == 0, resumed.stderr
    usage = json.loads(resumed.stdout)["cost"]["usage"]
    assert usage["cached_calls"] >= 1
    assert fresh_calls == usage["calls"] - usage["cached_calls"]

    config.write_text(config.read_text() + 'cache = "replay"\n')
    args = ["eval", "rerank", "--data", str(data), "-m", "pointwise", "--json"]
    args += ["--config", str(config), "-O", "fusion=none", "-o", str(replay)]
    replayed = CliRunner().invoke(app, args)  # no server at all: every reply from the cache
    assert replayed.exit_code == 0, replayed.stderr
    assert json.loads(replayed.stdout)["cost"]["usage"]["cached_calls"] == usage["calls"]
    assert replay.read_text() == rerun.read_text()
