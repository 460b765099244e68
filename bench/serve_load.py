"""Server load: N concurrent streamed chats through `rankgraph serve` vs the same
questions through `Pipeline` directly, in one run, on the same engine.

    .venv/bin/python bench/serve_load.py --config rankgraph.toml -n 16

Prints p50 / p95 first-token and total latency, errors, and the throughput ratio
server / library (goal >= 0.9, 0 errors). Then, one question at a time, the
generate step's first content as a streaming client sees it (from the last progress
delta to the first content delta) against the engine's own first token and first
complete sentence for the same final prompt, sent straight to the engine. The server
streams the answer a checked sentence at a time, so the engine's first sentence is
the bound it can reach (goal: ratio to it <= 1.5).

The collection is indexed from rankgraph's docs/ when it is empty. The server is
started as a subprocess on a free loopback port with max_in_flight = max_queue = N.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from openai import AsyncOpenAI

from rankgraph.agents import Pipeline
from rankgraph.agents.attribution import CheckedStream
from rankgraph.config import Settings, load_settings
from rankgraph.llm import LLMClient
from rankgraph.retrieval import Store, index_paths

QUESTIONS = [
    "How does rankgraph's filter decide which passages to keep?",
    "What does the pointwise reranker read instead of decoding?",
    "How are follow-up questions rewritten in a chat?",
    "What happens when the evidence is missing?",
    "How does hybrid retrieval fuse dense and BM25 results?",
    "Which engine runs on a laptop without a GPU?",
    "What does the setwise reranker compare?",
    "How many retrieval rounds does the corrective loop allow?",
]


@dataclass
class Timing:
    first_token_s: float | None = None
    total_s: float = 0.0
    error: str | None = None


@dataclass
class Phase:
    name: str
    timings: list[Timing] = field(default_factory=list)
    wall_s: float = 0.0

    def row(self) -> str:
        ok = [t for t in self.timings if t.error is None]
        first = [t.first_token_s for t in ok if t.first_token_s is not None]
        total = [t.total_s for t in ok]
        errors = len(self.timings) - len(ok)
        return (
            f"{self.name:<8} first token p50 {_pct(first, 50):6.2f} s p95 {_pct(first, 95):6.2f} s"
            f" | total p50 {_pct(total, 50):6.2f} s p95 {_pct(total, 95):6.2f} s"
            f" | wall {self.wall_s:6.2f} s | {len(ok) / self.wall_s:5.3f} answers/s"
            f" | errors {errors}"
        )


def _pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def library_phase(pipe: Pipeline, questions: list[str]) -> Phase:
    phase = Phase("library")

    async def one(question: str) -> Timing:
        timing, start = Timing(), time.perf_counter()
        try:
            async for event in pipe.events(question):
                # the first text a reader is shown, as the server's first content delta
                if event.type == "checked" and timing.first_token_s is None:
                    timing.first_token_s = time.perf_counter() - start
        except Exception as exc:  # a bench reports failures, it does not stop on them
            timing.error = f"{type(exc).__name__}: {exc}"
        timing.total_s = time.perf_counter() - start
        return timing

    start = time.perf_counter()
    phase.timings = await asyncio.gather(*(one(q) for q in questions))
    phase.wall_s = time.perf_counter() - start
    return phase


async def server_phase(client: AsyncOpenAI, model: str, questions: list[str]) -> Phase:
    phase = Phase("server")

    async def one(question: str) -> Timing:
        timing, start = Timing(), time.perf_counter()
        try:
            stream = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": question}], stream=True
            )
            async for chunk in stream:
                content = chunk.choices[0].delta.content if chunk.choices else None
                if content and timing.first_token_s is None:
                    timing.first_token_s = time.perf_counter() - start
        except Exception as exc:
            timing.error = f"{type(exc).__name__}: {exc}"
        timing.total_s = time.perf_counter() - start
        return timing

    start = time.perf_counter()
    phase.timings = await asyncio.gather(*(one(q) for q in questions))
    phase.wall_s = time.perf_counter() - start
    return phase


async def generate_ttft(
    client: AsyncOpenAI, http: httpx.AsyncClient, engine: LLMClient, model: str, question: str
) -> tuple[float, float, float] | None:
    """(client-seen first content, engine TTFT and engine time to the first complete
    sentence for the same prompt), seconds. The server streams checked sentences, so
    its first content can come no sooner than the engine's first sentence."""
    last_progress = first_content = None
    run_id = ""
    stream = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}], stream=True
    )
    async for chunk in stream:
        run_id = chunk.id
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta is not None and getattr(delta, "reasoning_content", None):
            last_progress = time.perf_counter()
        if delta is not None and delta.content and first_content is None:
            first_content = time.perf_counter()
    record = (await http.get(f"/v1/traces/{run_id}")).json()
    generate = next(
        (e for e in record["trace"] if e["node"] == "generate" and e["kind"] == "llm"), None
    )
    if generate is None or last_progress is None or first_content is None:
        return None  # abstained before generate: no prompt to compare
    raw = AsyncOpenAI(base_url=engine.base_urls[0], api_key=engine.settings.api_key, max_retries=0)
    start = time.perf_counter()
    direct = await raw.chat.completions.create(
        model=await engine.model(),
        messages=generate["messages"],
        max_tokens=generate["request"].get("max_tokens", 256),
        temperature=0.0,
        stream=True,
    )
    engine_ttft = first_sentence = None
    sentences = CheckedStream([], min_support=None)  # splits as the server does, checks nothing
    async for chunk in direct:
        text = chunk.choices[0].delta.content if chunk.choices else None
        if not text:
            continue
        if engine_ttft is None:
            engine_ttft = time.perf_counter() - start
        if sentences.feed(text) and first_sentence is None:
            first_sentence = time.perf_counter() - start
    if first_sentence is None:  # a one-sentence answer is complete when the stream ends
        first_sentence = time.perf_counter() - start
    await raw.close()
    return first_content - last_progress, engine_ttft or float("nan"), first_sentence


def start_server(
    config: Path | None, port: int, n: int, collection: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RANKGRAPH_SERVER__MAX_IN_FLIGHT": str(n),
        "RANKGRAPH_SERVER__MAX_QUEUE": str(n),
    }
    command = [sys.executable, "-m", "rankgraph.cli", "serve", "--port", str(port)]
    command += ["--collection", collection] + (["--config", str(config)] if config else [])
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def wait_up(base: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(600):
            if process.poll() is not None:
                raise SystemExit(f"server exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if (await http.get(f"{base}/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit("server not ready after 300 s")


def ensure_collection(settings: Settings, collection: str) -> None:
    """Index rankgraph's docs/ into the collection when it is empty."""
    store = Store.from_settings(settings, collection)
    if not store.exists() or store.count() == 0:
        docs = Path(__file__).resolve().parents[1] / "docs"
        report = index_paths(store, [docs])
        print(f"indexed {report.documents} documents from {docs} into {collection!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--collection", default="bench-docs")
    parser.add_argument("-n", "--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ttft-samples", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    settings = load_settings(args.config)
    settings = settings.with_pipeline(settings.pipeline.with_collection(args.collection))
    ensure_collection(settings, args.collection)
    asyncio.run(run(args, settings))


async def run(args: argparse.Namespace, settings: Settings) -> None:
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(args.concurrency)]
    keys = settings.server.api_keys
    base = f"http://127.0.0.1:{args.port}"
    process = start_server(args.config, args.port, args.concurrency, args.collection)
    try:
        await wait_up(base, process)
        client = AsyncOpenAI(
            base_url=f"{base}/v1", api_key=keys[0] if keys else "none", max_retries=0, timeout=900
        )
        model = (await client.models.list()).data[0].id
        library: list[Phase] = []
        server: list[Phase] = []
        async with Pipeline.from_config(settings) as pipe:  # built once, as the server's is
            await server_phase(client, model, questions[:2])  # warm both paths
            await library_phase(pipe, questions[:2])
            for _ in range(args.rounds):  # interleaved, so load drift hits both alike
                library.append(await library_phase(pipe, questions))
                server.append(await server_phase(client, model, questions))
        engine = LLMClient.from_settings(settings)
        headers = {"Authorization": f"Bearer {keys[0]}"} if keys else {}
        pairs: list[tuple[float, float, float]] = []
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
            for question in QUESTIONS[: args.ttft_samples]:
                pair = await generate_ttft(client, http, engine, model, question)
                if pair is not None:
                    pairs.append(pair)
        await engine.close()
        await client.close()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)

    print(f"engine {engine.base_urls[0]} model {await _model(settings)}")
    print(f"{args.concurrency} concurrent streamed chats, collection {args.collection!r}")
    for lib, srv in zip(library, server, strict=True):
        print(lib.row())
        print(srv.row())
    every = [t for phase in [*library, *server] for t in phase.timings]
    ratio = sum(p.wall_s for p in library) / sum(p.wall_s for p in server)
    errors = sum(t.error is not None for t in every)
    print(
        f"throughput ratio server/library = {ratio:.3f} over {args.rounds} rounds "
        f"(goal >= 0.9), errors {errors}"
    )
    for t in every:
        if t.error:
            print(f"  error: {t.error}")
    if pairs:
        seen = statistics.median(p[0] for p in pairs)
        own = statistics.median(p[1] for p in pairs)
        sentence = statistics.median(p[2] for p in pairs)
        print(
            f"generate first content, one at a time ({len(pairs)} questions): client sees "
            f"{seen * 1000:.0f} ms after the last progress delta; for the same prompt the "
            f"engine's first token takes {own * 1000:.0f} ms (ratio {seen / own:.2f}) and "
            f"its first complete sentence {sentence * 1000:.0f} ms (ratio {seen / sentence:.2f})"
        )


async def _model(settings: Settings) -> Any:
    async with LLMClient.from_settings(settings) as client:
        return await client.model()


if __name__ == "__main__":
    main()
