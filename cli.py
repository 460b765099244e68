"""The `rankgraph` command line. Commands only parse, call the library and print;
each lives beside the code it drives and is registered here."""

from __future__ import annotations

import logging
import os

import typer

from rankgraph.agents.commands import ask, chat, demo, trace_show
from rankgraph.engine.commands import app as engine_app
from rankgraph.eval.answers import eval_answers
from rankgraph.eval.retrieval import eval_retrieval
from rankgraph.rerank.commands import eval_rerank, rerank_cmd
from rankgraph.retrieval.commands import index, search
from rankgraph.serve.commands import serve

app = typer.Typer(
    name="rankgraph",
    help="Retrieval-augmented answering with a graph of LLM agents and LLM rerankers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(engine_app, name="engine", help="Install, start, stop and inspect the LLM engine.")

app.command("demo")(demo)
app.command("ask")(ask)
app.command("chat")(chat)
app.command("index")(index)
app.command("search")(search)
app.command("rerank")(rerank_cmd)
app.command("serve")(serve)

eval_app = typer.Typer(help="Measure retrieval, reranking and answers on labelled data.")
eval_app.command("retrieval")(eval_retrieval)
eval_app.command("rerank")(eval_rerank)
eval_app.command("answers")(eval_answers)
app.add_typer(eval_app, name="eval")

trace_app = typer.Typer(help="Read run traces.")
trace_app.command("show")(trace_show)
app.add_typer(trace_app, name="trace")


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("RANKGRAPH_LOG_LEVEL", "WARNING").upper(),
        format="%(levelname)s %(name)s: %(message)s",
    )
    app()


if __name__ == "__main__":
    main()
