"""`rankgraph config example`: print the commented example settings file.

Why a command: the file ships inside the package (a wheel install has no
repository to copy it from), so this is how a user gets a starting
`rankgraph.toml`: `rankgraph config example > rankgraph.toml`.
"""

from __future__ import annotations

from importlib import resources

import typer

EXAMPLE = "rankgraph.example.toml"

app = typer.Typer(help="Show the example settings file.", no_args_is_help=True)


def example_text() -> str:
    """The example settings file shipped with the package, every option at its default."""
    return resources.files("rankgraph").joinpath(EXAMPLE).read_text(encoding="utf-8")


@app.command()
def example() -> None:
    """Print rankgraph.example.toml (every option with its default); redirect it to a file."""
    typer.echo(example_text(), nl=False)
