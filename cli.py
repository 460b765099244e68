"""The `rankgraph` command line. Commands only parse, call the library and print;
each lives beside the code it drives and is registered here by import path.

Why by path: importing every command module would load LangGraph, Chroma and the
OpenAI client before `rankgraph --help` could print a line. A `Lazy` entry is
imported only when its command runs (or its own --help is asked for); the
parent's --help lists it from the short help written here, which a test keeps
equal to the command's own. Eager `app.command(...)` registrations work as well.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

import typer
from typer.core import TyperCommand, TyperGroup

from rankgraph import __version__


@dataclass(frozen=True)
class Lazy:
    """A command registered by import path: `module:attr`, a function or a Typer app."""

    target: str
    help: str

    def load(self, name: str) -> TyperCommand | TyperGroup:
        module, _, attr = self.target.partition(":")
        obj = getattr(importlib.import_module(module), attr)
        if isinstance(obj, typer.Typer):
            group = typer.main.get_group(obj)
            group.name = name
            return group
        single = typer.Typer(add_completion=False)
        single.command(name)(obj)
        command = typer.main.get_command(single)
        if not isinstance(command, TyperCommand):
            raise TypeError(f"{self.target} is not a command function")
        return command


def lazy_group(commands: Mapping[str, Lazy]) -> type[TyperGroup]:
    """A TyperGroup class that also offers `commands`, imported when resolved."""

    # The ignores: click's stubs type these methods with click.Context/click.Command,
    # which TyperGroup narrows to typer's own subclasses without redeclaring them.
    class LazyGroup(TyperGroup):
        def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
            return [*commands, *(name for name in self.commands if name not in commands)]

        def get_command(  # type: ignore[override]
            self, ctx: typer.Context, cmd_name: str
        ) -> TyperCommand | TyperGroup | None:
            if cmd_name in self.commands:
                return self.commands[cmd_name]  # type: ignore[return-value]
            entry = commands.get(cmd_name)
            # Listing only: a stand-in with the short help; resolve_command loads the real one.
            return None if entry is None else TyperCommand(name=cmd_name, help=entry.help)

        def resolve_command(  # type: ignore[override]
            self, ctx: typer.Context, args: list[str]
        ) -> tuple[str | None, TyperCommand | TyperGroup | None, list[str]]:
            if args and args[0] in commands and args[0] not in self.commands:
                self.add_command(commands[args[0]].load(args[0]), args[0])
            return super().resolve_command(ctx, args)  # type: ignore[return-value]

    return LazyGroup


COMMANDS = {
    "engine": Lazy(
        "rankgraph.engine.commands:app", "Install, start, stop and inspect the LLM engine."
    ),
    "demo": Lazy(
        "rankgraph.agents.commands:demo",
        "Index the sample corpus, answer its questions with citations, show each trace.",
    ),
    "ask": Lazy(
        "rankgraph.agents.commands:ask",
        "Answer a question from the indexed documents, with citations.",
    ),
    "chat": Lazy(
        "rankgraph.agents.commands:chat",
        "A terminal conversation; follow-ups are rewritten with the thread's history.",
    ),
    "index": Lazy(
        "rankgraph.retrieval.commands:index",
        "Index .txt, .md, .rst, .html, .pdf and .jsonl files; re-running adds only what changed.",
    ),
    "search": Lazy(
        "rankgraph.retrieval.commands:search",
        "Search an indexed collection and print the top passages.",
    ),
    "rerank": Lazy(
        "rankgraph.rerank.commands:rerank_cmd",
        "Rerank each query's candidates and write a TREC run (`qid Q0 docid rank score tag`).",
    ),
    "serve": Lazy(
        "rankgraph.serve.commands:serve",
        "Serve the pipeline: OpenAI-compatible chat, /v1/rerank and trace pages.",
    ),
    "config": Lazy("rankgraph.config_commands:app", "Show the example settings file."),
}

EVAL_COMMANDS = {
    "retrieval": Lazy(
        "rankgraph.eval.retrieval:eval_retrieval",
        "Answer recall@k of dense, BM25 and hybrid retrieval; indexing and query speed.",
    ),
    "candidates": Lazy(
        "rankgraph.eval.candidates:eval_candidates",
        "Write a QA set's first-stage passages and answer-document qrels for `eval rerank`.",
    ),
    "rerank": Lazy(
        "rankgraph.eval.rerank_command:eval_rerank",
        "Rerank a judged candidate list and compare with its input order: quality and cost.",
    ),
    "answers": Lazy(
        "rankgraph.eval.answers:eval_answers",
        "Compare pipeline variants on the same questions: quality, abstention, recall, cost.",
    ),
}

TRACE_COMMANDS = {
    "show": Lazy(
        "rankgraph.agents.commands:trace_show",
        "Summarise a saved run: answer, queries, ranking moves, filter, cost per node.",
    ),
}

app = typer.Typer(
    name="rankgraph",
    help="Retrieval-augmented answering with a graph of LLM agents and LLM rerankers.",
    cls=lazy_group(COMMANDS),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(
    help="Measure retrieval, reranking and answers on labelled data.",
    cls=lazy_group(EVAL_COMMANDS),
    no_args_is_help=True,
)
app.add_typer(eval_app, name="eval")
trace_app = typer.Typer(
    help="Read run traces.", cls=lazy_group(TRACE_COMMANDS), no_args_is_help=True
)
app.add_typer(trace_app, name="trace")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"rankgraph {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    pass


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("RANKGRAPH_LOG_LEVEL", "WARNING").upper(),
        format="%(levelname)s %(name)s: %(message)s",
    )
    app()


if __name__ == "__main__":
    main()
