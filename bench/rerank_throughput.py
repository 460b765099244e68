"""How much engine throughput does rankgraph's reranking path leave on the table?

Reranks K DL19 queries concurrently through rankgraph, captures the exact requests
it sent (each trace event's `messages` and `request`), then replays those very
requests straight to the engine with a bare `openai.AsyncOpenAI` at a few
concurrency levels and keeps the best. The ratio of prompt+completion tokens/s,
rankgraph over the best raw replay, is the overhead figure (goal ≥ 0.9).

Why the order of passes matters: the engine's prefix cache makes a replay of the
same prompts cheaper than the first pass. So a cold rankgraph pass captures the
requests, the raw replays pick the best concurrency, and then warm rankgraph
passes and raw replays at that concurrency alternate for `--rounds` rounds (other
load on the machine hits both alike); the ratio is of the two medians.

    .venv/bin/python bench/rerank_throughput.py --method pointwise --queries 8 --depth 20

The response cache is off throughout: every request reaches the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from rankgraph.config import Settings, load_settings
from rankgraph.engine import ensure_running
from rankgraph.eval import rerank as ev
from rankgraph.llm import LLMClient
from rankgraph.rerank import build
from rankgraph.rerank.batch import rerank_queries, total_cost
from rankgraph.rerank.candidates import Query, load_candidates
from rankgraph.trace import TraceEvent

log = logging.getLogger("bench.rerank_throughput")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "trec-dl19"
OPENAI_PARAMS = {
    "max_tokens",
    "temperature",
    "n",
    "logprobs",
    "top_logprobs",
    "stop",
    "seed",
    "response_format",
}


@dataclass(frozen=True)
class Pass:
    """One timed pass: how many requests and tokens, in how long."""

    label: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    wall_s: float

    @property
    def tokens_per_s(self) -> float:
        return (self.prompt_tokens + self.completion_tokens) / self.wall_s

    def line(self) -> str:
        return (
            f"{self.label:<28} {self.requests:>6} req {self.prompt_tokens:>9,} prompt "
            f"{self.completion_tokens:>7,} completion {self.wall_s:>8.2f} s "
            f"{self.tokens_per_s:>9,.0f} tok/s"
        )


def replayable(event: TraceEvent) -> dict[str, Any]:
    """The chat.completions.create kwargs that reproduce one traced call exactly."""
    if event.messages is None:
        raise ValueError(f"event from {event.node} has no messages to replay")
    known = {k: v for k, v in event.request.items() if k in OPENAI_PARAMS}
    extra = {k: v for k, v in event.request.items() if k not in OPENAI_PARAMS}
    kwargs: dict[str, Any] = {"messages": event.messages, **known}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


async def rankgraph_pass(
    settings: Settings, method: str, queries: list[Query], concurrency: int, label: str
) -> tuple[Pass, list[dict[str, Any]]]:
    """Rerank all queries through rankgraph; the timed pass and the requests it sent."""
    async with LLMClient.from_settings(settings) as client:
        reranker = build(method, client)
        await client.model()  # resolve the model name outside the timed part
        started = time.perf_counter()
        results = await rerank_queries(reranker, queries, concurrency=concurrency)
        wall_s = time.perf_counter() - started
    events = [e for r in results for e in r.events if e.kind == "llm" and e.error is None]
    cost = total_cost(results, wall_s)
    timed = Pass(
        label,
        cost.usage.calls,
        cost.usage.prompt_tokens,
        cost.usage.completion_tokens,
        wall_s,
    )
    return timed, [replayable(e) for e in events]


async def raw_pass(
    base_url: str,
    model: str,
    requests: list[dict[str, Any]],
    concurrency: int,
    api_key: str | None = None,
) -> Pass:
    """The same requests with a bare AsyncOpenAI, `concurrency` in flight."""
    gate = asyncio.Semaphore(concurrency)
    client = AsyncOpenAI(base_url=base_url, api_key=api_key or "EMPTY", max_retries=0, timeout=600)

    async def one(kwargs: dict[str, Any]) -> tuple[int, int]:
        async with gate:
            reply = await client.chat.completions.create(model=model, **kwargs)
        usage = reply.usage
        return (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)

    try:
        started = time.perf_counter()
        counts = await asyncio.gather(*(one(r) for r in requests))
        wall_s = time.perf_counter() - started
    finally:
        await client.close()
    return Pass(
        f"raw openai, {concurrency} in flight",
        len(requests),
        sum(p for p, _ in counts),
        sum(c for _, c in counts),
        wall_s,
    )


async def main(args: argparse.Namespace) -> None:
    overrides: dict[str, Any] = {
        "engine": {"preset": args.preset},
        "llm": {"cache": "off", "concurrency": args.llm_concurrency},
    }
    settings = load_settings(args.config, **overrides)
    state, started = ensure_running(settings)
    if started:
        log.info("started engine %s at %s (left running)", args.preset, state.base_url)
    queries = load_candidates(DATA / ev.CANDIDATES_FILE, depth=args.depth, limit=args.queries)
    print(
        f"{args.method}: {len(queries)} DL19 queries x depth {args.depth}, "
        f"{args.concurrency} queries in flight, client limit {args.llm_concurrency}, "
        f"engine {state.model} at {state.base_url}"
    )
    cold, requests = await rankgraph_pass(
        settings, args.method, queries, args.concurrency, "rankgraph (cold, captures)"
    )
    print(cold.line())
    sweep: dict[int, Pass] = {}
    for level in args.levels:
        sweep[level] = await raw_pass(state.base_url, state.model, requests, level, state.api_key)
        print(sweep[level].line())
    level = max(sweep, key=lambda n: sweep[n].tokens_per_s)
    warm_rates, raw_rates = [], []
    for round_ in range(1, args.rounds + 1):  # alternate, so background load hits both alike
        warm, _ = await rankgraph_pass(
            settings, args.method, queries, args.concurrency, f"rankgraph (warm, round {round_})"
        )
        print(warm.line())
        raw = await raw_pass(state.base_url, state.model, requests, level, state.api_key)
        print(raw.line())
        warm_rates.append(warm.tokens_per_s)
        raw_rates.append(raw.tokens_per_s)
    ratio = statistics.median(warm_rates) / statistics.median(raw_rates)
    print(
        f"ratio median rankgraph(warm) / median raw at {level} in flight, "
        f"{args.rounds} alternating rounds: {ratio:.3f}"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="pointwise")
    parser.add_argument("--queries", type=int, default=8, help="first K DL19 queries")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8, help="queries in flight")
    parser.add_argument("--llm-concurrency", type=int, default=16, help="client in-flight limit")
    parser.add_argument("--levels", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--rounds", type=int, default=3, help="alternating warm pairs")
    parser.add_argument("--preset", default="qwen2.5-0.5b")
    parser.add_argument("--config", type=Path, default=None)
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main(parse_args()))
