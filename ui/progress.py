"""A progress bar with ETA on stderr, shown only when stderr is a terminal.

Why stderr and TTY-only: stdout carries results (TREC runs, JSON) and logs or
pipes must not fill with redraws. `progress_bar` is advanced by the caller;
`watched` follows a blocking step (a download, a subprocess) by polling a measure
of its progress; a step of unknown length gets `total=None`: elapsed time only.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Advance = Callable[[int], None]


@contextmanager
def progress_bar(
    description: str, total: int | None, *, enabled: bool | None = None
) -> Iterator[Advance]:
    """Yield `advance(n)`; the bar shows done/total, elapsed time and the time remaining
    (with `total=None`: a pulsing bar and the elapsed time).

    `enabled=None` shows it when stderr is a terminal.
    """
    show = sys.stderr.isatty() if enabled is None else enabled
    counts = (MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    bar = Progress(
        # the description is data (paths, names): never read as rich markup
        TextColumn("{task.description}", markup=False, style="bold"),
        BarColumn(),
        *(counts if total is not None else (TimeElapsedColumn(),)),
        console=Console(stderr=True),
        disable=not show,
    )
    with bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance


@contextmanager
def watched(
    description: str,
    total: int | None,
    measure: Callable[[], int],
    *,
    every_s: float = 0.5,
    enabled: bool | None = None,
) -> Iterator[None]:
    """A bar for a blocking step: `measure()` (e.g. megabytes written so far) is read
    every `every_s` seconds on a thread while the block runs, and once at its end."""
    with progress_bar(description, total, enabled=enabled) as advance:
        done = 0
        stop = threading.Event()

        def catch_up() -> None:
            nonlocal done
            now = measure()
            if now > done:
                advance(now - done)
                done = now

        def poll() -> None:
            while not stop.wait(every_s):
                catch_up()

        poller = threading.Thread(target=poll, name="progress", daemon=True)
        poller.start()
        try:
            yield
        finally:
            stop.set()
            poller.join()
        catch_up()
