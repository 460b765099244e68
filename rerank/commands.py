"""`rankgraph rerank` and `rankgraph eval rerank`: parse, call `rankgraph.eval.rerank`, print.

These are plain typer command functions; the lead's `cli.py` registers them. Nothing
here computes a metric or talks to the model directly, so the numbers a user sees
are the ones the library (and its tests) produce.

Both commands turn the response cache on (`read-write`, a file in the data dir)
unless `--no-cache`: an interrupted evaluation resumes where it stopped and a rerun
costs nothing. A cache mode set in the config file is kept.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from rankgraph.config import Settings, load_settings
from rankgraph.errors import ConfigError, RankgraphError
from rankgraph.eval import rerank as ev
from rankgraph.llm import LLMClient
from rankgraph.rerank import build
from rankgraph.rerank.base import Reranker, RerankResult
from rankgraph.trace import write_jsonl

OptionList = Annotated[
    list[str] | None,
    typer.Option(
        "--option", "-O", help="Method option key=value (JSON values: 20, true, [1,2]); repeat."
    ),
]
ConfigPath = Annotated[Path | None, typer.Option("--config", help="Settings file (TOML or YAML).")]
NoCache = Annotated[
    bool, typer.Option("--no-cache", help="Do not read or write the LLM response cache.")
]
Concurrency = Annotated[
    int, typer.Option("--concurrency", min=1, help="Queries reranked at the same time.")
]
Method = Annotated[str, typer.Option("--method", "-m", help="Reranking method.")]


def parse_options(items: list[str] | None) -> dict[str, Any]:
    """`key=value` strings → keyword arguments; values read as JSON, else kept as text.

    `window-size=20` and `window_size=20` are the same key. Unknown keys are left to
    the method's `build`, which rejects them by name.
    """
    options: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise ConfigError(f"--option {item!r}: expected key=value, e.g. --option window=20")
        if key in options:
            raise ConfigError(f"--option {key} given twice")
        options[key] = _coerce(raw.strip())
    return options


def _coerce(raw: str) -> Any:
    """JSON values (`20`, `0.5`, `true`, `null`, `[1,2]`), else the text itself.

    `none` stays the string "none": it is a real option value (`fusion=none`).

    >>> [_coerce(v) for v in ("20", "True", "null", "none", "zscore")]
    [20, True, None, 'none', 'zscore']
    """
    lowered = raw.lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def command_settings(config: Path | None, no_cache: bool) -> Settings:
    """Settings with the response cache on by default (read-write), off with `--no-cache`."""
    settings = load_settings(config)
    if no_cache:
        mode = "off"
    elif settings.llm.cache == "off":
        mode = "read-write"
    else:
        mode = settings.llm.cache
    llm = settings.llm.model_copy(update={"cache": mode})
    return settings.model_copy(update={"llm": llm})


@asynccontextmanager
async def _reranker(
    settings: Settings, method: str, options: dict[str, Any]
) -> AsyncIterator[Reranker]:
    """The method's reranker over a client that is closed afterwards.

    "none" gets no client: the input-order baseline makes no LLM call, so scoring
    it must not require a running engine.
    """
    if method == "none":
        yield build(method, None, **options)  # type: ignore[arg-type]
        return
    async with LLMClient.from_settings(settings) as client:
        yield build(method, client, **options)


def rerank_cmd(
    input: Annotated[
        Path, typer.Option("--input", "-i", help="candidates.jsonl: qid, query, candidates.")
    ],
    method: Method,
    depth: Annotated[
        int | None, typer.Option("--depth", "-d", min=1, help="Rerank the top D candidates.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="TREC run file; default: stdout.")
    ] = None,
    trace: Annotated[
        Path | None, typer.Option("--trace", help="Write every LLM call as JSONL.")
    ] = None,
    options: OptionList = None,
    config: ConfigPath = None,
    no_cache: NoCache = False,
    concurrency: Concurrency = 4,
) -> None:
    """Rerank each query's candidates and write a TREC run (`qid Q0 docid rank score tag`)."""
    try:
        settings = command_settings(config, no_cache)
        kwargs = parse_options(options)
        queries = ev.load_candidates(input, depth=depth)
        results, wall_s = asyncio.run(_rerank(settings, method, kwargs, queries, concurrency))
    except RankgraphError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    run = ev.result_run(queries, results)
    tag = f"rankgraph-{method}"
    if output is None:
        for line in ev.format_trec_run(run, tag):
            sys.stdout.write(line + "\n")
    else:
        ev.write_trec_run(run, output, tag)
    if trace is not None:
        write_jsonl(ev.tagged_events(queries, results), trace)
    Console(stderr=True).print(_cost_table(ev.total_cost(results, wall_s), method))


async def _rerank(
    settings: Settings,
    method: str,
    options: dict[str, Any],
    queries: list[ev.Query],
    concurrency: int,
) -> tuple[list[RerankResult], float]:
    loop = asyncio.get_running_loop()
    async with _reranker(settings, method, options) as reranker:
        started = loop.time()
        results = await ev.rerank_queries(reranker, queries, concurrency=concurrency)
        return results, loop.time() - started


def eval_rerank(
    data: Annotated[
        Path, typer.Option("--data", help="Folder with candidates.jsonl and qrels.txt.")
    ],
    method: Method,
    depth: Annotated[int, typer.Option("--depth", "-d", min=1, help="Rerank the top D.")] = 100,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Only the first N queries.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print all numbers as JSON.")] = False,
    options: OptionList = None,
    config: ConfigPath = None,
    no_cache: NoCache = False,
    concurrency: Concurrency = 4,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write the reranked TREC run.")
    ] = None,
    trace: Annotated[
        Path | None, typer.Option("--trace", help="Write every LLM call as JSONL.")
    ] = None,
) -> None:
    """Rerank a judged candidate list and compare with its input order: quality and cost."""
    try:
        settings = command_settings(config, no_cache)
        kwargs = parse_options(options)
        outcome = asyncio.run(_evaluate(settings, method, kwargs, data, depth, limit, concurrency))
    except RankgraphError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if output is not None:
        ev.write_trec_run(outcome.reranked_run, output, f"rankgraph-{method}")
    if trace is not None:
        write_jsonl(ev.tagged_events(outcome.queries, outcome.results), trace)
    if json_out:
        sys.stdout.write(ev.dump_json(outcome.report) + "\n")
        return
    out = Console()
    out.print(_metrics_table(outcome.report))
    out.print(_cost_table(outcome.report.cost, method))


async def _evaluate(
    settings: Settings,
    method: str,
    options: dict[str, Any],
    data: Path,
    depth: int,
    limit: int | None,
    concurrency: int,
) -> ev.EvalOutcome:
    ev.data_files(data)  # a missing file fails before the client looks for an engine
    async with _reranker(settings, method, options) as reranker:
        return await ev.evaluate_reranker(
            reranker, data, depth=depth, limit=limit, concurrency=concurrency
        )


def _metrics_table(report: ev.EvalReport) -> Table:
    table = Table(
        title=f"{report.method} at depth {report.depth}: {report.queries} queries "
        f"({report.judged_queries} judged)"
    )
    table.add_column("measure")
    table.add_column("input order", justify="right")
    table.add_column(report.method, justify="right")
    table.add_column("Δ", justify="right")
    for label, before in report.input.items():
        after = report.reranked[label]
        table.add_row(label, f"{before:.4f}", f"{after:.4f}", f"{after - before:+.4f}")
    return table


def _cost_table(cost: ev.Cost, method: str) -> Table:
    usage = cost.usage
    table = Table(title=f"cost of {method}")
    table.add_column("cost")
    table.add_column("value", justify="right")
    rows = {
        "queries": f"{cost.queries:,}",
        "LLM calls": f"{usage.calls:,}",
        "cached calls": f"{usage.cached_calls:,}",
        "prompt tokens": f"{usage.prompt_tokens:,}",
        "completion tokens": f"{usage.completion_tokens:,}",
        "wall s": f"{cost.wall_s:.1f}",
        "repairs": f"{cost.repairs:,}",
        "failures": f"{cost.failures:,}",
        "budget exhausted (queries)": f"{cost.budget_exhausted:,}",
    }
    for name, value in rows.items():
        table.add_row(name, value)
    return table
