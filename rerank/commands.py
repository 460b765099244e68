"""`rankgraph rerank`, and the options and helpers it shares with `rankgraph eval rerank`.

Plain typer command functions, registered by the top-level CLI. They parse, call
the library (`rerank.candidates`, `rerank.batch`, `rerank.trec`) and print.

The response cache is on (`read-write`, a file in the data dir) unless `--no-cache`:
an interrupted run resumes where it stopped and a rerun costs nothing. A cache mode
set in the config file is kept.

Failed LLM calls stop the run with exit 1 and nothing written, unless
`--allow-failures`: then failed windows keep their prior order and the output says
so (run tag `rankgraph-METHOD-degraded`, a warning on stderr).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from rankgraph.config import Settings, load_settings
from rankgraph.errors import ConfigError
from rankgraph.llm import LLMClient
from rankgraph.preflight import check_client
from rankgraph.rerank import (
    DEFAULT_METHOD,
    METHODS,
    PORTABLE_METHOD,
    build,
    method_for,
    needs_client,
)
from rankgraph.rerank.base import Reranker, RerankResult
from rankgraph.rerank.batch import (
    Cost,
    OnFailure,
    degraded_queries,
    rerank_queries,
    tagged_events,
    total_cost,
)
from rankgraph.rerank.candidates import Query, load_candidates
from rankgraph.rerank.options import make_config
from rankgraph.rerank.trec import format_trec_run, result_run, run_tag, write_trec_run
from rankgraph.trace import write_jsonl
from rankgraph.ui import exit_on_error, progress_bar, safe_text


def methods_help() -> str:
    """Each method and its options with defaults, read from `METHODS` and the configs."""
    lines = ["Methods and their --option KEY=VALUE settings (defaults shown):", ""]
    width = max(len(name) for name in METHODS)
    for name, entry in METHODS.items():
        fields = dataclasses.fields(entry.config)
        options = ", ".join(f"{f.name}={_default(f)}" for f in fields) or "(no options)"
        lines.append(f"{name.ljust(width)}  {options}")
    return "\n".join(lines)


def _default(field: dataclasses.Field[Any]) -> str:
    if field.default is not dataclasses.MISSING:
        return json.dumps(field.default) if not isinstance(field.default, str) else field.default
    if field.default_factory is not dataclasses.MISSING:
        return json.dumps(field.default_factory())
    return "(required)"


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
    int, typer.Option("--concurrency", min=1, max=1024, help="Queries reranked at the same time.")
]
Method = Annotated[
    str | None,
    typer.Option(
        "--method",
        "-m",
        callback=lambda value: value if value is None else _known_method(value),
        help=f"Reranking method: {', '.join(METHODS)} (their options: see above). Default:"
        f" {DEFAULT_METHOD}, or {PORTABLE_METHOD} on an engine without prompt logprobs.",
        show_default=False,
    ),
]
AllowFailures = Annotated[
    bool,
    typer.Option(
        "--allow-failures",
        help="When LLM calls fail, keep the prior order there and mark the output degraded "
        "instead of exiting 1.",
    ),
]


def _known_method(value: str) -> str:
    """Reject `-m foo` while parsing, before settings, files or an engine are looked at."""
    if value not in METHODS:
        raise typer.BadParameter(f"unknown method {value!r}; choose one of {', '.join(METHODS)}")
    return value


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


def method_options(method: str, items: list[str] | None) -> dict[str, Any]:
    """Parsed `--option`s, checked against the method's config before any engine is needed."""
    options = parse_options(items)
    make_config(method, METHODS[method].config, options)
    return options


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
async def open_reranker(
    settings: Settings, method: str, options: dict[str, Any]
) -> AsyncIterator[Reranker]:
    """The method's reranker over a client that is closed afterwards.

    A method that makes no LLM call ("none", "embedding") gets no client, so scoring it
    must not require a running engine. Otherwise a dead endpoint fails here, fast,
    unless every reply is to come from a replay-only cache.
    """
    if not needs_client(method):
        yield build(method, None, **options)
        return
    method_for(settings.engine.kind, method, default=method, **options)  # fails before a call
    async with LLMClient.from_settings(settings) as client:
        await check_client(client)
        yield build(method, client, **options)


def failure_policy(allow_failures: bool) -> OnFailure:
    return "keep_order" if allow_failures else "raise"


def warn_degraded(qids: Sequence[str], failures: int) -> None:
    """The stderr line a degraded run always ends with."""
    shown = ", ".join(qids[:10]) + (" …" if len(qids) > 10 else "")
    Console(stderr=True).print(
        safe_text(
            f"warning: degraded run: {failures} LLM calls failed in {len(qids)} queries "
            f"({shown}); their windows kept the prior order",
            style="bold yellow",
        )
    )


def rerank_cmd(
    input: Annotated[
        Path, typer.Option("--input", "-i", help="candidates.jsonl: qid, query, candidates.")
    ],
    method: Method = None,
    depth: Annotated[
        int | None,
        typer.Option("--depth", "-d", min=1, max=100_000, help="Rerank the top D candidates."),
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
    allow_failures: AllowFailures = False,
) -> None:
    """Rerank each query's candidates and write a TREC run (`qid Q0 docid rank score tag`)."""
    with exit_on_error():
        settings = command_settings(config, no_cache)
        method = method_for(
            settings.engine.kind, method, default=DEFAULT_METHOD, **parse_options(options)
        )
        kwargs = method_options(method, options)
        queries = load_candidates(input, depth=depth)
        results, wall_s = asyncio.run(
            _rerank(settings, method, kwargs, queries, concurrency, failure_policy(allow_failures))
        )
    run = result_run(queries, results)
    degraded = degraded_queries(queries, results)
    tag = run_tag(method, degraded=bool(degraded))
    if output is None:
        for line in format_trec_run(run, tag):
            sys.stdout.write(line + "\n")
    else:
        write_trec_run(run, output, tag)
    if trace is not None:
        write_jsonl(tagged_events(queries, results), trace)
    cost = total_cost(results, wall_s)
    Console(stderr=True).print(cost_table(cost, method))
    if degraded:
        warn_degraded(degraded, cost.failures)


rerank_cmd.__doc__ = f"{rerank_cmd.__doc__}\n\n{methods_help()}"


async def _rerank(
    settings: Settings,
    method: str,
    options: dict[str, Any],
    queries: list[Query],
    concurrency: int,
    on_failure: OnFailure,
) -> tuple[list[RerankResult], float]:
    loop = asyncio.get_running_loop()
    async with open_reranker(settings, method, options) as reranker:
        started = loop.time()
        with progress_bar(f"rerank {method}", len(queries)) as advance:
            results = await rerank_queries(
                reranker, queries, concurrency=concurrency, on_failure=on_failure, on_done=advance
            )
        return results, loop.time() - started


def cost_table(cost: Cost, method: str) -> Table:
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
