"""`rankgraph engine ...`: install, start, stop, status, logs.

Commands only parse options, call rankgraph.engine and print; a RankgraphError
becomes its message on stderr and exit code 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from rankgraph import engine
from rankgraph.choices import EngineKind
from rankgraph.config import Settings, load_settings
from rankgraph.ui import exit_on_error, plain

app = typer.Typer(help="Install, start, stop and inspect the LLM engine.", no_args_is_help=True)

T = TypeVar("T")


ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="TOML/YAML settings file (default ./rankgraph.toml)."),
]
PresetOpt = Annotated[
    str | None,
    typer.Option(help=f"Model preset: {', '.join(engine.PRESETS)} (default: engine.preset)."),
]
KindOpt = Annotated[EngineKind | None, typer.Option(help="Engine kind (default: engine.kind).")]


def _settings(config: Path | None, preset: str | None, kind: EngineKind | None) -> Settings:
    overrides: dict[str, Any] = {}
    if preset is not None:
        overrides["preset"] = preset
    if kind is not None:
        overrides["kind"] = kind
    return load_settings(config, **({"engine": overrides} if overrides else {}))


def _describe(state: engine.EngineState) -> str:
    return f"{state.kind} engine serving {state.model} at {state.base_url} (pid {state.pid})"


def _chosen(preset: str | None, kind: EngineKind | None) -> bool:
    return preset is not None or kind is not None


def _run(action: Callable[[], T]) -> T:
    """Call the library; a RankgraphError is shown as a message and exits 1."""
    with exit_on_error():
        return action()
    raise AssertionError("unreachable")  # exit_on_error re-raises as typer.Exit


@app.command()
def install(config: ConfigOpt = None, preset: PresetOpt = None, kind: KindOpt = None) -> None:
    """Create the engine environment and fetch/convert the model (idempotent)."""
    settings = _run(lambda: _settings(config, preset, kind))
    _run(lambda: engine.install(settings))
    typer.echo(f"{settings.engine.kind} engine installed ({settings.engine.preset})")


@app.command()
def start(config: ConfigOpt = None, preset: PresetOpt = None, kind: KindOpt = None) -> None:
    """Start the engine in the background and wait until it answers (a no-op if it runs)."""
    settings = _run(lambda: _settings(config, preset, kind))
    state, started = _run(lambda: engine.ensure_running(settings))
    typer.echo(_describe(state) if started else f"already running: {_describe(state)}")


@app.command()
def stop(config: ConfigOpt = None, preset: PresetOpt = None, kind: KindOpt = None) -> None:
    """Stop the engine started for this kind and preset."""
    settings = _run(lambda: _settings(config, preset, kind))
    stopped = _run(lambda: engine.stop(settings))
    typer.echo("engine stopped" if stopped else "no engine was running")


@app.command()
def status(
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    kind: KindOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the records as a JSON list (keys left out).")
    ] = False,
) -> None:
    """List every running engine, or only the one --preset/--kind name (exit 1 if none)."""
    settings = _run(lambda: _settings(config, preset, kind))
    if _chosen(preset, kind):
        one = _run(lambda: engine.status(settings))
        states = [one] if one is not None else []
    else:
        states = _run(lambda: engine.status_all(settings))
    if as_json:
        typer.echo(json.dumps([state.public() for state in states], indent=2))
    elif states:
        typer.echo("\n".join(_describe(state) for state in states))
    else:
        wanted = settings.engine
        which = f"{wanted.kind} ({wanted.preset}) " if _chosen(preset, kind) else ""
        typer.echo(f"no {which}engine running: start one with `rankgraph engine start`")
    if not states:
        raise typer.Exit(1)


@app.command()
def logs(
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    kind: KindOpt = None,
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many lines.")] = 50,
) -> None:
    """Print the last lines of the engine's server log."""
    settings = _run(lambda: _settings(config, preset, kind))
    typer.echo(plain(_run(lambda: engine.logs(settings, lines))), nl=False)
