"""Does answering questions concurrently keep the engine busy? (goal: ≥ 0.8 of saturation)

Runs K wiki-nq questions through one shared pipeline at `--concurrency` questions
in flight, the way `rankgraph eval answers` runs them (response cache off),
captures every LLM request the runs sent, then replays exactly those requests
straight to the engine with a bare `openai.AsyncOpenAI` at a few concurrency
levels and keeps the best: the engine's saturated throughput on this very work.
The figure is prompt+completion tokens/s, pipeline over best raw replay. A second
pipeline pass follows the replays, so both see the engine's prefix cache warm.

    .venv/bin/python bench/answers_throughput.py --questions 24 --concurrency 8

Needs the wiki-nq index (built once by `rankgraph eval answers` or `eval retrieval`).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from rerank_throughput import Pass, raw_pass, replayable

from rankgraph.agents.pipeline import Pipeline
from rankgraph.config import Settings, load_settings
from rankgraph.engine import ensure_running
from rankgraph.eval.answers import index_corpus, load_qa
from rankgraph.eval.variants import BUILTIN_VARIANTS
from rankgraph.llm import LLMClient

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "wiki-nq"


async def pipeline_pass(
    settings: Settings, questions: list[str], concurrency: int, label: str
) -> tuple[Pass, list[dict[str, Any]]]:
    """Every question through one pipeline, `concurrency` at a time; the requests sent."""
    gate = asyncio.Semaphore(concurrency)
    async with (
        LLMClient.from_settings(settings) as client,
        Pipeline.from_config(settings, client=client) as pipe,
    ):
        await client.model()  # resolve the model name outside the timed part

        async def one(question: str) -> Any:
            async with gate:
                return await pipe.ask(question)

        started = time.perf_counter()
        answers = await asyncio.gather(*(one(q) for q in questions))
        wall_s = time.perf_counter() - started
    events = [e for a in answers for e in a.trace if e.kind == "llm" and e.error is None]
    usage = [a.usage["total"] for a in answers]
    timed = Pass(
        label,
        sum(u.calls for u in usage),
        sum(u.prompt_tokens for u in usage),
        sum(u.completion_tokens for u in usage),
        wall_s,
    )
    return timed, [replayable(e) for e in events]


async def main(args: argparse.Namespace) -> None:
    base = load_settings(args.config, llm={"cache": "off"}, engine={"preset": args.preset})
    state, _ = ensure_running(base)
    collection = await asyncio.to_thread(index_corpus, base, DATA / "corpus.jsonl")
    pipeline = base.pipeline.merged(BUILTIN_VARIANTS.get(args.variant, {}))
    settings = base.with_pipeline(pipeline.with_collection(collection))
    questions = [q.question for q in load_qa(DATA / "questions.jsonl", "dev", args.questions)]
    print(
        f"{args.variant}: {len(questions)} wiki-nq questions, {args.concurrency} in flight, "
        f"engine {state.model} at {state.base_url}"
    )
    cold, requests = await pipeline_pass(settings, questions, args.concurrency, "pipeline (cold)")
    print(cold.line())
    sweep = []
    for level in args.levels:
        raw = await raw_pass(state.base_url, state.model, requests, level, state.api_key)
        print(raw.line())
        sweep.append(raw)
    warm, _ = await pipeline_pass(settings, questions, args.concurrency, "pipeline (warm)")
    print(warm.line())
    best = max(sweep, key=lambda p: p.tokens_per_s)
    ratio = warm.tokens_per_s / best.tokens_per_s
    print(f"ratio pipeline(warm) / best raw ({best.label}): {ratio:.3f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="plain", help="plain or default")
    parser.add_argument("--questions", type=int, default=24, help="first K dev questions")
    parser.add_argument("--concurrency", type=int, default=8, help="questions in flight")
    parser.add_argument("--levels", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--preset", default="qwen2.5-0.5b")
    parser.add_argument("--config", type=Path, default=None)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
