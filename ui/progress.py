"""A progress bar with ETA on stderr, shown only when stderr is a terminal.

Why stderr and TTY-only: stdout carries results (TREC runs, JSON) and logs or
pipes must not fill with redraws.
"""

from __future__ import annotations

import sys
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
    """Yield `advance(n)`; the bar shows done/total, elapsed time and the time remaining.

    `enabled=None` shows it when stderr is a terminal.
    """
    show = sys.stderr.isatty() if enabled is None else enabled
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not show,
    )
    with bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance
