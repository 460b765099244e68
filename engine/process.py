"""Starting, watching and stopping a detached server process.

Why detached (own session): the engine must outlive `rankgraph engine start`
and a test session, and `stop` must take down the whole tree (vLLM forks an
engine-core process) by killing the process group, not just the parent pid.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import subprocess
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from rankgraph.errors import EngineError
from rankgraph.ui import progress_bar

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 20


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port_free(host: str, port: int) -> None:
    """Raise EngineError with the fix when `port` is taken on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise EngineError(f"cannot bind {host}:{port}: {exc}") from exc
            raise EngineError(
                f"port {port} on {host} is already in use: stop what listens there, "
                "or set engine.port to another port (or leave it empty to pick a free one)"
            ) from exc


def tail(path: Path, lines: int) -> str:
    """The last `lines` lines of a text file ('' when it does not exist)."""
    if lines <= 0 or not path.is_file():
        return ""
    with path.open(encoding="utf-8", errors="replace") as fh:
        return "".join(deque(fh, maxlen=lines))


def spawn_detached(
    command: Sequence[str], env: Mapping[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """Start `command` in its own session with stdout+stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log.info("starting %s (log: %s)", " ".join(command), log_path)
    # Owner-only: a server log can hold request details.
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "ab") as out:
        out.write(f"\n=== {time.strftime('%F %T')} {' '.join(command)}\n".encode())
        out.flush()
        try:
            return subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env),
                start_new_session=True,
            )
        except OSError as exc:
            raise EngineError(f"cannot run {command[0]}: {exc}") from exc


def pid_alive(pid: int) -> bool:
    """True when `pid` exists and is not a zombie (a dead child not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        # Field 3, after the parenthesised command name, is the state letter.
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def served_models(
    base_url: str, timeout_s: float = 3.0, headers: Mapping[str, str] | None = None
) -> list[str] | None:
    """Model ids listed by `<base_url>/models`, or None when nothing answers."""
    try:
        reply = httpx.get(f"{base_url.rstrip('/')}/models", timeout=timeout_s, headers=headers)
        reply.raise_for_status()
        return [str(m["id"]) for m in reply.json().get("data", [])]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def wait_ready(
    proc: subprocess.Popen[bytes],
    base_url: str,
    model: str,
    *,
    timeout_s: float,
    log_path: Path,
    what: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Block until `base_url` serves `model`; fail fast if the process dies.

    On death or timeout the process group is killed and the last log lines go
    into the EngineError, because that is where the reason is.
    """
    deadline = time.monotonic() + timeout_s
    log.info("starting %s (log: %s)", what, log_path)
    with progress_bar(f"starting {what}", None):
        while True:
            code = proc.poll()
            if code is not None:
                raise EngineError(
                    f"{what} exited with code {code} while starting; "
                    f"last {LOG_TAIL_LINES} lines of {log_path}:\n"
                    f"{tail(log_path, LOG_TAIL_LINES)}"
                )
            models = served_models(base_url, timeout_s=2.0, headers=headers)
            if models is not None and model in models:
                return
            if time.monotonic() > deadline:
                kill_group(proc.pid)
                raise EngineError(
                    f"{what} did not answer on {base_url} within {timeout_s:.0f} s "
                    f"(engine.start_timeout_s); last {LOG_TAIL_LINES} lines of {log_path}:\n"
                    f"{tail(log_path, LOG_TAIL_LINES)}"
                )
            time.sleep(1.0)


def kill_group(pid: int, grace_s: float = 15.0) -> bool:
    """SIGTERM the process group led by `pid`, SIGKILL it after `grace_s`.

    Waits until no member is left, so helpers that outlive the leader (vLLM's
    engine core, multiprocessing's resource tracker, which ignores SIGTERM) are
    gone too. Returns False when there was nothing to kill.
    """
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not group_alive(pid):
            return True
        time.sleep(0.25)
    log.warning("process group %d ignored SIGTERM for %.0f s: sending SIGKILL", pid, grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    _reap(pid)
    return True


def group_alive(pgid: int) -> bool:
    """True while any process of group `pgid` lives (the leader or any helper)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # Only zombies left (our own unreaped child) count as dead.
    return pid_alive(pgid) or bool(group_members(pgid))


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(stat.parent.name))
    return members


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
