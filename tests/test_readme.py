"""The README's Python snippet runs as written, against the real engine."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rankgraph.config import Settings
from rankgraph.engine import EngineState

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.engine
def test_readme_python_snippet_runs_as_written_and_prints_a_cited_answer(
    engine: EngineState, engine_settings: Settings, tmp_path: Path
) -> None:
    snippet = python_blocks(README.read_text(encoding="utf-8"))[0]
    env = {
        **os.environ,
        "RANKGRAPH_DATA_DIR": str(tmp_path / "data"),
        "RANKGRAPH_CACHE_DIR": str(engine_settings.cache_dir),
        "RANKGRAPH_ENGINE__PRESET": engine_settings.engine.preset,
    }
    done = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()  # the answer text and the cited titles
