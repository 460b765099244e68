"""The top-level CLI: fast --help through lazy registration, --version, config example,
and the answer commands' one-line errors."""

from __future__ import annotations

import subprocess
import sys
import time
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


@pytest.mark.parametrize("command", ["ask", "chat", "demo"])
def test_answer_commands_end_a_settings_error_in_one_line_not_a_traceback(
    tmp_path: Path, command: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[pipeline]\ncolection = "x"\n')
    args = [command, *(["what is it?"] if command == "ask" else []), "--config", str(config)]
    result = CliRunner().invoke(app, args, input="")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error: invalid settings in")
    assert "pipeline.colection" in result.stderr


def test_ask_with_an_unreachable_engine_fails_fast_naming_the_url(tmp_path: Path) -> None:
    config = tmp_path / "rankgraph.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[llm]\nbase_urls = ["http://127.0.0.1:9/v1"]\n'
        'model = "m"\n'
    )
    started = time.perf_counter()
    result = CliRunner().invoke(
        app, ["ask", "when are zorblats harvested?", "--config", str(config)]
    )
    assert result.exit_code == 1
    assert "no LLM endpoint answers: http://127.0.0.1:9/v1" in result.stderr
    assert time.perf_counter() - started < 15  # not every node's retries (about a minute)


def test_trace_show_reads_a_saved_run_and_names_a_file_that_is_not_one(tmp_path: Path) -> None:
    from rankgraph.agents.answer import Answer
    from rankgraph.trace import step

    run = tmp_path / "run.json"
    answer = Answer(question="why?", answer="because [1]", trace=[step("filter", method="off")])
    run.write_text(answer.model_dump_json())
    shown = CliRunner().invoke(app, ["trace", "show", str(run)])
    assert shown.exit_code == 0 and "because [1]" in shown.stdout

    other = tmp_path / "cands.jsonl"
    other.write_text('{"qid": "q1", "query": "x", "candidates": []}\n')
    result = CliRunner().invoke(app, ["trace", "show", str(other)])
    assert result.exit_code == 1
    assert "not a rankgraph run (field required at node)" in result.stderr
    assert "validation error" not in result.stderr
