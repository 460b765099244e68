"""`rankgraph eval rerank`: parse, call `rankgraph.eval.rerank`, print.

A plain typer command function, registered by the top-level CLI; it shares its
options with `rankgraph rerank` (eval depends on rerank, never the reverse).
`--method a,b:key=value,c` compares several methods in one run over the same
queries and engine, one after another: one table of quality, cost and a paired
significance test against the input order per method, and with `--plot FILE` the
nDCG@10-vs-prompt-tokens picture with its Pareto front. With several methods,
`--output` and `--trace` write one file per method (the label goes before the suffix).

Failed LLM calls end the command with exit 1 and no metrics, unless
`--allow-failures`: then the metrics are printed under a DEGRADED title and the
JSON report carries `"degraded": true` and the affected qids.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rankgraph.config import Settings
from rankgraph.eval import rerank as ev
from rankgraph.eval.compare import MethodSpec, parse_specs
from rankgraph.rerank import METHODS
from rankgraph.rerank.batch import OnFailure, tagged_events
from rankgraph.rerank.commands import (
    AllowFailures,
    Concurrency,
    ConfigPath,
    NoCache,
    OptionList,
    command_settings,
    cost_table,
    failure_policy,
    methods_help,
    open_reranker,
    parse_options,
    warn_degraded,
)
from rankgraph.rerank.options import make_config
from rankgraph.rerank.trec import run_tag, write_trec_run
from rankgraph.trace import write_jsonl
from rankgraph.ui import exit_on_error, progress_bar


def _known_specs(value: str) -> str:
    """Reject an unknown method in `--method a,b` while parsing, before any engine."""
    try:
        parse_specs(value, list(METHODS))
    except Exception as exc:
        raise typer.BadParameter(str(exc)) from exc
    return value


MethodSpecs = Annotated[
    str,
    typer.Option(
        "--method",
        "-m",
        callback=_known_specs,
        help=f"Method(s), comma-separated, each NAME or NAME:key=value:…: {', '.join(METHODS)}.",
    ),
]


def eval_rerank(
    data: Annotated[
        Path, typer.Option("--data", help="Folder with candidates.jsonl and qrels.txt.")
    ],
    method: MethodSpecs,
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
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="nDCG@10 vs prompt tokens with the Pareto front (PNG + SVG)."),
    ] = None,
    allow_failures: AllowFailures = False,
) -> None:
    """Rerank a judged candidate list and compare with its input order: quality and cost."""
    with exit_on_error():
        specs = parse_specs(method, list(METHODS), parse_options(options))
        for spec in specs:  # every option checked before the engine is asked
            make_config(spec.method, METHODS[spec.method].config, spec.options)
        settings = command_settings(config, no_cache)
        loaded = ev.load_eval_input(data, depth=depth, limit=limit)  # fails before the engine
        outcomes = asyncio.run(
            _evaluate_all(settings, specs, loaded, concurrency, failure_policy(allow_failures))
        )
        several = len(specs) > 1
        for spec, outcome in zip(specs, outcomes, strict=True):
            report = outcome.report
            if output is not None:
                tag = run_tag(spec.method, degraded=report.degraded)
                write_trec_run(outcome.reranked_run, _per_method(output, spec, several), tag)
            if trace is not None:
                events = tagged_events(outcome.queries, outcome.results)
                write_jsonl(events, _per_method(trace, spec, several))
        reports = [o.report for o in outcomes]
        if plot is not None:
            from rankgraph.eval.plot import quality_vs_tokens

            written = quality_vs_tokens(reports, plot)
        text = None
        if json_out:
            text = ev.dump_json(reports[0]) if not several else ev.dump_json_list(reports)
    if text is not None:
        sys.stdout.write(text + "\n")
    else:
        out = Console()
        if several:
            out.print(comparison_table(reports))
        else:
            out.print(metrics_table(reports[0]))
            out.print(cost_table(reports[0].cost, reports[0].method))
    if plot is not None:
        Console(stderr=True).print(f"plot: {', '.join(str(p) for p in written)}")
    for report in reports:
        if report.degraded:
            warn_degraded(report.degraded_qids, report.cost.failures)


eval_rerank.__doc__ = f"{eval_rerank.__doc__}\n\n{methods_help()}"


def _per_method(path: Path, spec: MethodSpec, several: bool) -> Path:
    """`run.txt` → `run.qlm.txt` when several methods share one `--output`/`--trace`."""
    if not several:
        return path
    safe = "".join(c if c.isalnum() or c in "-_=." else "_" for c in spec.label)
    return path.with_name(f"{path.stem}.{safe}{path.suffix}")


async def _evaluate_all(
    settings: Settings,
    specs: list[MethodSpec],
    loaded: ev.EvalInput,
    concurrency: int,
    on_failure: OnFailure,
) -> list[ev.EvalOutcome]:
    """Each method in turn over the same queries (one at a time, so wall times compare)."""
    outcomes: list[ev.EvalOutcome] = []
    for spec in specs:
        async with open_reranker(settings, spec.method, spec.options) as reranker:
            with progress_bar(f"eval rerank {spec.label}", len(loaded.queries)) as advance:
                outcome = await ev.evaluate_reranker(
                    reranker,
                    loaded,
                    concurrency=concurrency,
                    on_failure=on_failure,
                    on_done=advance,
                )
        report = outcome.report.model_copy(update={"label": spec.label})
        outcomes.append(dataclasses.replace(outcome, report=report))
    return outcomes


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
    if report.p_value is not None:
        table.add_row("p (nDCG@10, paired)", "", _p_text(report), "")
    return table


def _p_text(report: ev.EvalReport) -> str:
    if report.p_value is None:
        return "–"
    text = _p(report.p_value)
    return text + (f" (t {_p(report.p_value_t)})" if report.p_value_t is not None else "")


def _p(value: float) -> str:
    """`0.032`, or `2e-05` below 0.001 (a randomization p is at least 1/10,001)."""
    return f"{value:.3f}" if value >= 0.001 else f"{value:.0e}"


def comparison_table(reports: list[ev.EvalReport]) -> Table:
    """One row per method, the input order first: quality, Δ, p, cost."""
    first = reports[0]
    table = Table(
        title=f"{len(reports)} methods at depth {first.depth}: {first.queries} queries "
        f"({first.judged_queries} judged); p: paired randomization test on per-query "
        "nDCG@10 vs input order (t-test in brackets)"
    )
    # nDCG@1: is the first passage relevant; what a reader that leans on it gets
    columns = ("method", "nDCG@10", "Δ", "p", "nDCG@1", "MRR@10", "calls", "prompt tok")
    for name in (*columns, "compl. tok"):
        table.add_column(name, justify="left" if name == "method" else "right")
    table.add_column("wall s", justify="right")
    table.add_row(
        "input order",
        f"{first.input['nDCG@10']:.4f}",
        "",
        "",
        f"{first.input['nDCG@1']:.4f}",
        f"{first.input['MRR@10']:.4f}",
        "0",
        "0",
        "0",
        "0",
    )
    for r in reports:
        usage = r.cost.usage
        ndcg = r.reranked["nDCG@10"]
        table.add_row(
            (r.label or r.method) + (" (degraded)" if r.degraded else ""),
            f"{ndcg:.4f}",
            f"{ndcg - r.input['nDCG@10']:+.4f}",
            _p_text(r),
            f"{r.reranked['nDCG@1']:.4f}",
            f"{r.reranked['MRR@10']:.4f}",
            f"{usage.calls:,}",
            f"{usage.prompt_tokens:,}",
            f"{usage.completion_tokens:,}",
            f"{r.cost.wall_s:.1f}",
        )
    return table
