"""Typer command functions for `rankgraph index` and `rankgraph search`.

Plain functions, registered by the top-level CLI. They parse, call the library and
print; document text is printed as text (`ui.safe_text`), and a `RankgraphError`
ends the command through `ui.exit_on_error`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rankgraph.choices import RetrievalMode
from rankgraph.config import load_settings
from rankgraph.retrieval.ingest import IngestReport, index_paths
from rankgraph.retrieval.retriever import Retriever
from rankgraph.retrieval.store import Store
from rankgraph.schema import Passage
from rankgraph.ui import exit_on_error, safe_text

CollectionOpt = Annotated[
    str | None, typer.Option(help="Collection name (default: retrieval.collection).")
]
ConfigOpt = Annotated[Path | None, typer.Option(help="rankgraph.toml / .yaml to read.")]
SHOWN_CHARS = 400


def index(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories (recursed).")],
    collection: CollectionOpt = None,
    sync: Annotated[
        bool,
        typer.Option(help="Mirror PATHS: drop chunks of every file not found under them."),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(help="Let --sync empty the collection when PATHS hold no file at all."),
    ] = False,
    follow_symlinks: Annotated[
        bool,
        typer.Option(help="Follow symlinks that lead out of PATHS (not followed by default)."),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Index .txt, .md, .rst, .html, .pdf and .jsonl files; re-running adds only what changed.

    Unreadable entries, broken or looping symlinks and binary files are skipped and
    listed; the rest is indexed.
    """
    with exit_on_error():
        settings = load_settings(config)
        store = Store.from_settings(settings, collection)
        r = settings.retrieval
        report = index_paths(
            store,
            paths,
            sync=sync,
            force=force,
            follow_symlinks=follow_symlinks,
            chunk_tokens=r.chunk_tokens,
            chunk_overlap=r.chunk_overlap,
            write_batch=r.write_batch,
            progress=sys.stderr.isatty(),
        )
    _print_report(report, store.name, Console(stderr=True))


def _print_report(report: IngestReport, collection: str, console: Console) -> None:
    console.print(
        safe_text(f"collection {collection}: ")
        + Text(
            f"{len(report.added)} added, "
            f"{len(report.updated)} updated, {len(report.unchanged)} unchanged, "
            f"{len(report.removed)} removed, {len(report.skipped)} skipped; "
            f"+{report.chunks_added}/-{report.chunks_removed} chunks "
            f"({report.total_chunks} in all) in {report.seconds:.1f} s"
        ),
        soft_wrap=True,
    )
    for label, entries in (("skipped", report.skipped), ("warning", report.warnings)):
        for where, why in entries:
            line = Text(f"  {label} ", style="yellow") + safe_text(f"{where}: {why}")
            console.print(line, soft_wrap=True)


def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    mode: Annotated[RetrievalMode | None, typer.Option(help="dense, bm25 or hybrid.")] = None,
    k: Annotated[
        int | None, typer.Option("-k", "--k", min=1, max=10_000, help="How many passages.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print passages as JSON.")] = False,
    collection: CollectionOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Search an indexed collection and print the top passages."""
    with exit_on_error():
        settings = load_settings(config)
        passages = Retriever.from_settings(settings, collection).search(query, k=k, mode=mode)
    if json_out:
        typer.echo(json.dumps([p.model_dump(mode="json") for p in passages], indent=2))
        return
    table = Table(show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("passage")
    for rank, p in enumerate(passages, 1):
        score = f"{p.score:.4f}" if p.score is not None else ""
        table.add_row(str(rank), score, passage_cell(p))
    Console().print(table)


def passage_cell(p: Passage) -> Text:
    """Title, text (cut) and source of a passage, all printed as written."""
    text = p.text if len(p.text) <= SHOWN_CHARS else p.text[:SHOWN_CHARS] + "…"
    cell = Text()
    if p.title:
        cell += safe_text(p.title, style="bold") + "\n"
    cell += safe_text(text) + "\n"
    cell += safe_text(p.source or "", style="dim")
    return cell
