"""Client overhead: the same N requests at concurrency C, sent with the raw `openai`
client and with rankgraph's `LLMClient`, side by side in one run.

    .venv/bin/python bench/client_overhead.py --requests 64 --concurrency 8

Prints both wall times and the ratio rankgraph / raw (goal ≤ 1.02). Uses the running
engine (or RANKGRAPH_LLM__BASE_URLS); the response cache is off.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from openai import AsyncOpenAI

from rankgraph.config import load_settings
from rankgraph.llm import LLMClient


def _messages(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Request {i}: name a colour in one word."}]


async def _raw(base_url: str, model: str, n: int, c: int, max_tokens: int) -> float:
    client = AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0)
    gate = asyncio.Semaphore(c)

    async def one(i: int) -> None:
        async with gate:
            await client.chat.completions.create(
                model=model,
                messages=_messages(i),
                max_tokens=max_tokens,
                temperature=0.0,  # type: ignore[arg-type]
            )

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - start
    await client.close()
    return elapsed


async def _rankgraph(client: LLMClient, n: int, max_tokens: int) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(client.complete(_messages(i), max_tokens=max_tokens) for i in range(n)))
    return time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    settings = load_settings(llm={"cache": "off", "concurrency": args.concurrency})
    client = LLMClient.from_settings(settings)
    model = await client.model()
    base_url = client.base_urls[0]
    await _rankgraph(client, args.concurrency, args.max_tokens)  # warm up the engine

    raw_times, rg_times = [], []
    for _ in range(args.rounds):  # interleave so drift hits both alike
        raw_times.append(
            await _raw(base_url, model, args.requests, args.concurrency, args.max_tokens)
        )
        rg_times.append(await _rankgraph(client, args.requests, args.max_tokens))
    await client.close()
    raw, rg = min(raw_times), min(rg_times)
    print(f"engine {base_url} model {model}")
    print(f"{args.requests} requests, concurrency {args.concurrency}, best of {args.rounds}")
    print(f"raw openai   {raw:8.2f} s")
    print(f"rankgraph    {rg:8.2f} s")
    print(f"ratio rankgraph/raw = {rg / raw:.3f} (goal <= 1.02)")


if __name__ == "__main__":
    asyncio.run(main())
