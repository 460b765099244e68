"""The `rankgraph serve` command: parse, check the bind, run uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from rankgraph.config import load_settings
from rankgraph.errors import RankgraphError
from rankgraph.serve.auth import check_bind


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Collection to answer from.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="A TOML or YAML settings file.")
    ] = None,
) -> None:
    """Serve the pipeline: OpenAI-compatible chat, /v1/rerank and trace pages."""
    try:
        settings = load_settings(config)
        server = settings.server.model_copy(
            update={"host": host or settings.server.host, "port": port or settings.server.port}
        )
        pipeline = settings.pipeline.with_collection(collection or None)
        settings = settings.model_copy(update={"server": server, "pipeline": pipeline})
        check_bind(server.host, server.api_keys)
    except RankgraphError as exc:
        Console(stderr=True).print(f"error: {exc}", markup=False)
        raise typer.Exit(1) from exc
    import uvicorn  # here, not at import: keeps every other command's start-up light

    from rankgraph.serve.app import create_app

    uvicorn.run(
        create_app(settings),
        host=server.host,
        port=server.port,
        log_level="info",
        timeout_graceful_shutdown=10,
    )
