"""One real engine started and stopped by this test alone, in a private engine dir.

It shares the engine venv and the converted smollm2 model with the session's
cache through symlinks, so it never touches an engine someone else started
(the session fixture's, or a long evaluation's): its run record, lock, log and
process group are its own.
"""

from __future__ import annotations

import os
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
