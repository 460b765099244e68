"""Typer command functions for `rankgraph index` and `rankgraph search`.

Plain functions, registered by the top-level CLI. They parse, call the library and
print; a `RankgraphError` becomes its message on stderr and exit status 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rankgraph.config import load_settings
from rankgraph.errors import RankgraphError
from rankgraph.retrieval.ingest import IngestReport, index_paths
from rankgraph.retrieval.retriever import Mode, Retriever
from rankgraph.retrieval.store import Store

CollectionOpt = Annotated[
    str | None, typer.Option(help="Collection name (default: retrieval.collection).")
]
ConfigOpt = Annotated[Path | None, typer.Option(help="rankgraph.toml / .yaml to read.")]


def index(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories (recursed).")],
    collection: CollectionOpt = None,
    sync: Annotated[
        bool,
        typer.Option(help="Mirror PATHS: drop chunks of every file not found under them."),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Index .txt, .md, .html, .pdf and .jsonl files; re-running adds only what changed."""
    err = Console(stderr=True)
    try:
        settings = load_settings(config)
        store = Store.from_settings(settings, collection)
        r = settings.retrieval
        report = index_paths(
            store,
            paths,
            sync=sync,
            chunk_tokens=r.chunk_tokens,
            chunk_overlap=r.chunk_overlap,
            write_batch=r.write_batch,
            progress=sys.stderr.isatty(),
        )
    except RankgraphError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    _print_report(report, store.name, err)


def _print_report(report: IngestReport, collection: str, console: Console) -> None:
    console.print(
        f"collection [bold]{collection}[/bold]: {len(report.added)} added, "
        f"{len(report.updated)} updated, {len(report.unchanged)} unchanged, "
        f"{len(report.removed)} removed, {len(report.skipped)} skipped; "
        f"+{report.chunks_added}/-{report.chunks_removed} chunks "
        f"({report.total_chunks} in all) in {report.seconds:.1f} s"
    )
    for where, why in report.skipped:
        console.print(f"  [yellow]skipped[/yellow] {where}: {why}")
    for where, what in report.warnings:
        console.print(f"  [yellow]warning[/yellow] {where}: {what}")


def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    mode: Annotated[Mode | None, typer.Option(help="dense, bm25 or hybrid.")] = None,
    k: Annotated[int | None, typer.Option("-k", "--k", help="How many passages.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print passages as JSON.")] = False,
    collection: CollectionOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Search an indexed collection and print the top passages."""
    err = Console(stderr=True)
    try:
        settings = load_settings(config)
        passages = Retriever.from_settings(settings, collection).search(query, k=k, mode=mode)
    except RankgraphError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    if json_out:
        typer.echo(json.dumps([p.model_dump(mode="json") for p in passages], indent=2))
        return
    table = Table(show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("passage")
    for rank, p in enumerate(passages, 1):
        head = f"[bold]{p.title}[/bold]\n" if p.title else ""
        text = p.text if len(p.text) <= 400 else p.text[:400] + "…"
        table.add_row(str(rank), f"{p.score:.4f}", f"{head}{text}\n[dim]{p.source}[/dim]")
    Console().print(table)
