"""The one way a command ends on a library error: its message, verbatim, and exit 1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from rankgraph.errors import RankgraphError
from rankgraph.ui.text import plain


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Turn a `RankgraphError` raised in the block into `error: MESSAGE` on stderr, exit 1.

    The message is printed as text (no markup, no wrapping, escape sequences
    neutralised): errors quote user values such as paths and file lines.
    """
    try:
        yield
    except RankgraphError as exc:
        typer.echo(f"error: {plain(exc)}", err=True)
        raise typer.Exit(1) from exc
