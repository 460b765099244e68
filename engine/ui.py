"""Progress display for the slow engine steps (install, fetch, convert, start).

Why on stderr: stdout stays clean for `rankgraph engine status --json` and
pipes; rich prints nothing animated when stderr is not a terminal.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console


@contextmanager
def spinner(message: str) -> Iterator[None]:
    """Show `message` with a spinner on stderr while the block runs."""
    with Console(stderr=True).status(message):
        yield
