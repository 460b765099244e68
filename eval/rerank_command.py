"""`rankgraph eval rerank`: parse, call `rankgraph.eval.rerank`, print.

A plain typer command function, registered by the top-level CLI; it shares its
options with `rankgraph rerank` (eval depends on rerank, never the reverse).
Failed LLM calls end the command with exit 1 and no metrics, unless
`--allow-failures`: then the metrics are printed under a DEGRADED title and the
JSON report carries `"degraded": true` and the affected qids.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from rankgraph.config import Settings
from rankgraph.eval import rerank as ev
from rankgraph.rerank.batch import OnFailure, tagged_events
from rankgraph.rerank.commands import (
    AllowFailures,
    Concurrency,
    ConfigPath,
    Method,
    NoCache,
    OptionList,
    command_settings,
    cost_table,
    failure_policy,
    method_options,
    methods_help,
    open_reranker,
    warn_degraded,
)
from rankgraph.rerank.trec import run_tag, write_trec_run
from rankgraph.trace import write_jsonl
from rankgraph.ui import exit_on_error, progress_bar


def eval_rerank(
    data: Annotated[
        Path, typer.Option("--data", help="Folder with candidates.jsonl and qrels.txt.")
    ],
    method: Method,
    depth: Annotated[
        int, typer.Option("--depth", "-d", min=1, max=100_000, help="Rerank the top D.")
    ] = 100,
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
    allow_failures: AllowFailures = False,
) -> None:
    """Rerank a judged candidate list and compare with its input order: quality and cost."""
    with exit_on_error():
        kwargs = method_options(method, options)
        settings = command_settings(config, no_cache)
        loaded = ev.load_eval_input(data, depth=depth, limit=limit)  # fails before the engine
        outcome = asyncio.run(
            _evaluate(settings, method, kwargs, loaded, concurrency, failure_policy(allow_failures))
        )
        report = outcome.report
        if output is not None:
            write_trec_run(outcome.reranked_run, output, run_tag(method, degraded=report.degraded))
        if trace is not None:
            write_jsonl(tagged_events(outcome.queries, outcome.results), trace)
        text = ev.dump_json(report) if json_out else None
    if text is not None:
        sys.stdout.write(text + "\n")
    else:
        out = Console()
        out.print(metrics_table(report))
        out.print(cost_table(report.cost, method))
    if report.degraded:
        warn_degraded(report.degraded_qids, report.cost.failures)


eval_rerank.__doc__ = f"{eval_rerank.__doc__}\n\n{methods_help()}"


async def _evaluate(
    settings: Settings,
    method: str,
    options: dict[str, Any],
    loaded: ev.EvalInput,
    concurrency: int,
    on_failure: OnFailure,
) -> ev.EvalOutcome:
    async with open_reranker(settings, method, options) as reranker:
        with progress_bar(f"eval rerank {method}", len(loaded.queries)) as advance:
            return await ev.evaluate_reranker(
                reranker, loaded, concurrency=concurrency, on_failure=on_failure, on_done=advance
            )


def metrics_table(report: ev.EvalReport) -> Table:
    title = (
        f"{report.method} at depth {report.depth}: {report.queries} queries "
        f"({report.judged_queries} judged)"
    )
    if report.degraded:
        title = (
            f"DEGRADED — {report.cost.failures} LLM calls failed in "
            f"{len(report.degraded_qids)} queries, which kept input order there — {title}"
        )
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("input order", justify="right")
    table.add_column(report.method + (" (degraded)" if report.degraded else ""), justify="right")
    table.add_column("Δ", justify="right")
    for label, before in report.input.items():
        after = report.reranked[label]
        table.add_row(label, f"{before:.4f}", f"{after:.4f}", f"{after - before:+.4f}")
    return table
