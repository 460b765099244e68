"""The top-level CLI: fast --help through lazy registration, --version, config example."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rankgraph
from rankgraph.cli import COMMANDS, EVAL_COMMANDS, TRACE_COMMANDS, Lazy, app
from rankgraph.config_commands import example_text

HEAVY = ("langgraph", "chromadb", "openai", "torch", "sentence_transformers", "langchain_core")


def test_help_lists_every_command_without_importing_heavy_libraries() -> None:
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from rankgraph.cli import app\n"
        "out = CliRunner().invoke(app, ['--help']).stdout\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
        "print(out)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    loaded, _, help_text = done.stdout.partition("\n")
    assert loaded == "[]"
    for name in [*COMMANDS, "eval", "trace"]:
        assert f" {name} " in help_text


@pytest.mark.parametrize(
    ("name", "entry"),
    [*COMMANDS.items(), *EVAL_COMMANDS.items(), *TRACE_COMMANDS.items()],
)
def test_each_listed_short_help_is_the_commands_own(name: str, entry: Lazy) -> None:
    command = entry.load(name)
    assert command.name == name
    assert (command.help or "").strip().splitlines()[0] == entry.help


def test_a_lazy_command_runs_with_its_own_options() -> None:
    result = CliRunner().invoke(app, ["eval", "rerank", "--help"])
    assert result.exit_code == 0
    assert "--method" in result.stdout


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["nope"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_version_option_prints_the_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"rankgraph {rankgraph.__version__}\n")
    assert rankgraph.__version__[0].isdigit()


def test_config_example_prints_the_shipped_example_which_loads_as_settings(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(app, ["config", "example"])
    assert result.exit_code == 0
    assert result.stdout == example_text()
    path = tmp_path / "rankgraph.toml"
    path.write_text(result.stdout)
    assert rankgraph.load_settings(path).engine.kind == "embedded"
