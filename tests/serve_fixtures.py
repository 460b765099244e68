"""Start `rankgraph serve` as a real process on loopback for the server tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

DOCS = {
    "lovelace.md": "# Ada Lovelace\n\nAda Lovelace was an English mathematician born in "
    "London on 10 December 1815. She wrote the first published computer program, for "
    "Charles Babbage's Analytical Engine.",
    "babbage.md": "# Charles Babbage\n\nCharles Babbage was an English inventor who designed "
    "the Analytical Engine, a mechanical general-purpose computer, in 1837.",
    "cards.md": "# Punched cards\n\nThe Analytical Engine read its programs from punched "
    "cards, an idea taken from the Jacquard loom.",
    "rivers.md": "# The Thames\n\nThe Thames is a river that flows through London.",
}


def write_docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def write_config(path: Path, settings: dict[str, Any]) -> Path:
    """A TOML file from a settings mapping (top-level scalars, then one table per section)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in settings.items() if not isinstance(v, dict)]
    for section, table in settings.items():
        if isinstance(table, dict):
            lines.append(f"[{section}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(config: Path, workdir: Path, timeout_s: float = 180.0) -> Iterator[str]:
    """`python -m rankgraph.cli serve` until it answers /health; its base URL. Stops it after."""
    port = free_port()
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rankgraph.cli",
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
        ],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "RANKGRAPH_LOG_LEVEL": "INFO"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {(workdir / 'server.log').read_text()}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not up after {timeout_s} s")
            time.sleep(0.3)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
