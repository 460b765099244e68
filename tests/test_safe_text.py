"""Text from documents, questions and replies prints as text: no markup, no escapes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import typer
from rich.console import Console
from typer.testing import CliRunner

from rankgraph.errors import InputError
from rankgraph.retrieval.commands import index, search
from rankgraph.ui import exit_on_error, plain, safe_text

HOSTILE = (
    "See [/etc/hosts] and the [installation guide](https://x.example) for list[int]; "
    "[link=https://evil.example]click[/link] [bold]loud[/bold]"
)
ESCAPES = "red\x1b[31mtext\x1b[0m title\x1b]0;pwned\x07 link\x1b]8;;https://evil.example\x1b\\x"


def rendered(text: object) -> str:
    out = io.StringIO()
    Console(file=out, force_terminal=True, width=400).print(safe_text(text))
    return out.getvalue()


def test_markup_in_text_prints_verbatim() -> None:
    assert HOSTILE in rendered(HOSTILE)


def test_escape_and_control_sequences_are_neutralised() -> None:
    cleaned = plain(ESCAPES + "\x07bell\r\x9b2J\u202eevil")
    assert "\x1b" not in cleaned and "\x07" not in cleaned and "\r" not in cleaned
    assert "\x9b" not in cleaned and "\u202e" not in cleaned
    assert " title\ufffd link" in cleaned  # a whole sequence becomes one visible mark
    assert plain("tabs\tand\nnewlines stay") == "tabs\tand\nnewlines stay"


def test_the_terminal_receives_no_escape_sequence_from_the_text() -> None:
    out = io.StringIO()
    Console(file=out, force_terminal=False, width=400).print(safe_text(ESCAPES))
    assert "\x1b" not in out.getvalue()


def test_error_handler_prints_the_message_verbatim_and_exits_1() -> None:
    app = typer.Typer()

    @app.command()
    def fail() -> None:
        with exit_on_error():
            raise InputError("bad [/x] line\x1b[2J")

    result = CliRunner().invoke(app, [])
    assert result.exit_code == 1
    assert result.stderr == "error: bad [/x] line\ufffd\n"


def test_search_prints_hostile_document_text_as_written(tmp_path: Path) -> None:
    doc = tmp_path / "docs" / "notes.jsonl"
    doc.parent.mkdir()
    record = {"id": "1", "title": "[/x] guide", "text": f"hosts file. {HOSTILE} {ESCAPES}"}
    doc.write_text(json.dumps(record) + "\n")
    config = tmp_path / "rg.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    app = typer.Typer()
    app.command("index")(index)
    app.command("search")(search)
    runner = CliRunner()
    indexed = runner.invoke(app, ["index", str(doc.parent), "--config", str(config)])
    assert indexed.exit_code == 0, indexed.stderr
    found = runner.invoke(
        app,
        ["search", "hosts file", "--mode", "bm25", "--config", str(config)],
        env={"COLUMNS": "1000"},
    )
    assert found.exit_code == 0, found.stderr
    for fragment in (
        "[/etc/hosts]",
        "[installation guide](https://x.example)",
        "list[int]",
        "[link=https://evil.example]click[/link]",
        "[/x] guide",
    ):
        assert fragment in found.stdout
    assert "\x1b" not in found.stdout
