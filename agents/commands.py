"""Typer command functions for the agent graph (registered by `rankgraph.cli`).

They parse, call the library and print; a RankgraphError becomes its message
on stderr and exit code 1.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from rankgraph.agents.answer import Answer, NodeFailed
from rankgraph.agents.pipeline import Pipeline
from rankgraph.agents.summary import citations_text, events_table, print_answer, story
from rankgraph.config import Settings, load_settings
from rankgraph.demo import Sample
from rankgraph.errors import InputError, first_problem
from rankgraph.eval.qa_scoring import contains_answer
from rankgraph.llm.client import LLMClient
from rankgraph.preflight import check_client
from rankgraph.trace import TraceEvent
from rankgraph.ui import exit_on_error, safe_text

T = TypeVar("T")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="A TOML or YAML settings file.", show_default=False)
]
CollectionOpt = Annotated[
    str | None, typer.Option("--collection", "-c", help="Collection to search.")
]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run the command's coroutine; library errors end the command with exit 1."""
    with exit_on_error():
        try:
            return asyncio.run(coro)
        except NodeFailed as exc:
            note = f"({len(exc.trace)} trace events kept; pass --trace FILE to save them)"
            Console(stderr=True).print(note)
            raise


def _settings(config: Path | None, collection: str | None = None) -> Settings:
    """The command's settings; a bad file or variable ends it with `error: …`, exit 1."""
    with exit_on_error():
        settings = load_settings(config)
        return settings.with_pipeline(settings.pipeline.with_collection(collection))


@asynccontextmanager
async def _pipeline(settings: Settings) -> AsyncIterator[Pipeline]:
    """The configured pipeline, once its LLM endpoint has answered one short request.

    Without the check a dead endpoint costs every node its retries (a minute) before
    the run fails; with it the command fails in seconds, naming the URL.
    """
    async with LLMClient.from_settings(settings) as client:
        await check_client(client)
        async with Pipeline.from_config(settings, client=client) as pipe:
            yield pipe


def write_run(
    path: Path, answer: Answer | None, trace: list[TraceEvent], error: str | None
) -> None:
    """One JSON document per run: the Answer, or the partial trace and the error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if answer is not None:
        path.write_text(answer.model_dump_json(indent=2), encoding="utf-8")
        return
    doc = {"error": error, "trace": [e.model_dump(mode="json") for e in trace]}
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")


async def _answer(
    pipe: Pipeline, question: str, thread: str | None, stream: bool, console: Console
) -> Answer:
    answer: Answer | None = None
    async for event in pipe.events(question, thread):
        if event.type == "warning":
            Console(stderr=True).print(safe_text(f"warning: {event.text}", style="yellow"))
        elif event.type == "checked" and stream:  # the answer, a checked sentence at a time
            console.print(safe_text(event.text or ""), end="")
        elif event.answer is not None:
            answer = event.answer
    assert answer is not None
    if stream:
        console.print()
    return answer


async def _ask(
    settings: Settings,
    question: str,
    thread: str | None,
    stream: bool,
    trace_out: Path | None,
    json_out: bool,
) -> None:
    console = Console()
    async with _pipeline(settings) as pipe:
        try:
            answer = await _answer(pipe, question, thread, stream and not json_out, console)
        except NodeFailed as exc:
            if trace_out is not None:
                write_run(trace_out, None, exc.trace, str(exc))
            raise
    if trace_out is not None:
        write_run(trace_out, answer, answer.trace, None)
    if json_out:
        sys.stdout.write(answer.model_dump_json(indent=2) + "\n")
        return
    print_answer(console, answer, text=not stream)
    console.print(story(answer))


def ask(
    question: Annotated[str, typer.Argument(help="The question to answer.")],
    collection: CollectionOpt = None,
    thread: Annotated[
        str | None, typer.Option("--thread", "-t", help="Chat thread id (memory).")
    ] = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Print tokens live.")] = True,
    trace_out: Annotated[
        Path | None, typer.Option("--trace", help="Write the run as one JSON document.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the Answer as JSON.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Answer a question from the indexed documents, with citations."""
    _run(_ask(_settings(config, collection), question, thread, stream, trace_out, json_out))


async def _chat(settings: Settings, thread: str) -> None:
    console = Console()
    console.print(safe_text(f"thread {thread}; empty line or Ctrl-D to leave", style="dim"))
    async with _pipeline(settings) as pipe:
        while True:
            try:
                question = await asyncio.to_thread(console.input, "[bold]you>[/bold] ")
            except EOFError:
                break
            if not question.strip() or question.strip() in {"exit", "quit"}:
                break
            try:
                answer = await _answer(pipe, question, thread, True, console)
            except InputError as exc:
                console.print(safe_text(f"error: {exc}", style="red"))
                continue
            console.print(print_citations_only(answer))


def print_citations_only(answer: Answer) -> Text:
    marks = [f"[{c.n}] {c.title or c.passage_id}" for c in answer.citations]
    tail = f"  (abstained: {answer.abstain_reason})" if answer.abstained else ""
    return safe_text("   " + "  ".join(marks) + tail)


def chat(
    collection: CollectionOpt = None,
    thread: Annotated[
        str | None, typer.Option("--thread", "-t", help="Resume a thread by id.")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """A terminal conversation; follow-ups are rewritten with the thread's history."""
    _run(_chat(_settings(config, collection), thread or uuid.uuid4().hex[:8]))


async def _index_demo(settings: Settings, corpus: Path, console: Console) -> Settings:
    """Start the engine if needed, index `corpus`; the settings pointed at its collection."""
    from rankgraph.engine import ensure_running
    from rankgraph.retrieval import Store, index_paths

    with console.status("starting the engine (first start takes a minute)…"):
        state, started = await asyncio.to_thread(ensure_running, settings)
    started_note = " (started)" if started else ""
    console.print(safe_text(f"engine {state.model} at {state.base_url}{started_note}"))
    collection = settings.pipeline.collection or "demo-" + _slug(corpus)
    settings = settings.with_pipeline(settings.pipeline.with_collection(collection))
    store = Store.from_settings(settings, collection)
    with console.status(safe_text(f"indexing {corpus}…")):
        report = await asyncio.to_thread(index_paths, store, [corpus], sync=True)
    console.print(
        safe_text(
            f"indexed {report.documents} documents into {collection!r} "
            f"({report.total_chunks} chunks, {report.seconds:.1f} s)"
        )
    )
    return settings


async def _demo(
    settings: Settings, corpus: Path, questions: list[Sample], json_out: bool
) -> list[dict[str, object]]:
    """Ask every sample question; print each cited answer and its short trace."""
    console = Console(stderr=json_out)
    settings = await _index_demo(settings, corpus, console)
    results: list[dict[str, object]] = []
    async with _pipeline(settings) as pipe:
        for sample in questions:
            console.print(Text("\nQ: ", style="bold") + safe_text(sample.question))
            with console.status("answering…"):
                answer = await _answer(pipe, sample.question, None, False, console)
            console.print(Text("A: ", style="bold") + safe_text(answer.answer))
            console.print(citations_text(answer))
            if not json_out:
                console.print(story(answer))
            results.append(
                {
                    "question": sample.question,
                    "expected": sample.expected,
                    "answer": answer.answer,
                    "citations": [c.model_dump() for c in answer.citations],
                    "abstained": answer.abstained,
                }
            )
    expected = [r for r, s in zip(results, questions, strict=True) if s.expected]
    if expected:
        hits = sum(
            contains_answer(str(r["answer"]), s.answers) and not r["abstained"]
            for r, s in zip(results, questions, strict=True)
            if s.expected
        )
        console.print(f"\n{hits} of {len(expected)} answers contain the expected answer")
    return results


def _slug(path: Path) -> str:
    return "".join(c if c.isalnum() else "-" for c in path.resolve().name.lower()) or "corpus"


def demo(
    corpus: Annotated[
        Path | None,
        typer.Option("--corpus", help="Files to index instead of the sample corpus."),
    ] = None,
    question: Annotated[
        list[str] | None, typer.Option("--question", "-q", help="Ask this instead; repeat.")
    ] = None,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json", help="Print [{question, expected, answer, citations, abstained}] as JSON."
        ),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Index the sample corpus, answer its questions with citations, show each trace.

    Starts the engine first when none runs.
    """
    from rankgraph import demo as sample

    asked = [Sample(q, "", ()) for q in question] if question else sample.samples()
    results = _run(_demo(_settings(config), corpus or sample.corpus_path(), asked, json_out))
    if json_out:
        sys.stdout.write(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


def trace_show(
    file: Annotated[Path, typer.Argument(help="A run written by `ask --trace FILE`.")],
    events: Annotated[bool, typer.Option("--events", help="List every event.")] = True,
) -> None:
    """Summarise a saved run: answer, queries, ranking moves, filter, cost per node."""
    console = Console()
    with exit_on_error():
        try:
            answer = read_run(file)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read run {file}: {exc}") from exc
    if answer.question:
        console.print(Text("Q: ", style="bold") + safe_text(answer.question))
        print_answer(console, answer)
    console.print(story(answer))
    if events:
        console.print(events_table(answer.trace))


def read_run(path: Path) -> Answer:
    """A run document (Answer JSON, or error + partial trace), or a JSONL of events."""
    from rankgraph.agents.answer import usage_report

    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".jsonl":
            trace = [
                TraceEvent.model_validate_json(line) for line in text.splitlines() if line.strip()
            ]
            return Answer(question="", answer="", trace=trace, usage=usage_report(trace))
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("the file holds no JSON object")
        if "answer" in doc:
            return Answer.model_validate(doc)
        trace = [TraceEvent.model_validate(e) for e in doc.get("trace", [])]
    except ValidationError as exc:
        where, what = first_problem(exc)
        raise ValueError(
            f"not a rankgraph run ({what.lower()} at {where or 'top level'}); expected the JSON "
            "`rankgraph ask --trace FILE` writes, or a JSONL file of trace events"
        ) from None
    return Answer(
        question="", answer=f"(failed: {doc.get('error')})", trace=trace, usage=usage_report(trace)
    )
