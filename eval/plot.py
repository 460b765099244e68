"""Quality-vs-cost pictures: each variant or method as a point, quality against
its price, so a gain is read next to what it costs. `eval answers` plots answer
quality against LLM calls per question; `eval rerank --method a,b` plots nDCG@10
against prompt tokens with the Pareto front drawn through the methods no other
method beats on both."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankgraph.errors import ConfigError
from rankgraph.eval.compare import pareto_front
from rankgraph.eval.qa_scoring import VariantSummary

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from rankgraph.eval.rerank import EvalReport


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError("--plot needs matplotlib: pip install 'rankgraph[plot]'") from exc
    return plt


def quality_vs_calls(summaries: Sequence[VariantSummary], path: Path) -> list[Path]:
    """Write `path` as PNG and SVG (contains and F1 against calls per question)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    calls = [s.calls_per_question for s in summaries]
    for metric, marker in (("contains", "o"), ("f1", "s")):
        values = [getattr(s, metric) for s in summaries]
        ax.scatter(calls, values, marker=marker, label=metric)
        for s, x, y in zip(summaries, calls, values, strict=True):
            ax.annotate(s.variant, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("symlog", linthresh=1.0)
    ticks = sorted(set(calls))
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xlabel("LLM calls per question")
    ax.set_ylabel("answer quality (answerable questions)")
    ax.set_title(f"quality vs cost, {summaries[0].answerable} questions")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(plt, fig, path)


def quality_vs_tokens(reports: Sequence[EvalReport], path: Path) -> list[Path]:
    """Write `path` as PNG and SVG: nDCG@10 against prompt tokens per query, one
    point per method plus the input order at zero cost, the Pareto front as a line."""
    plt = _pyplot()
    first = reports[0]
    reports = [r for r in reports if r.method != "none"]  # "none" is the input-order point
    names = ["input order", *[_short(r.label or r.method) for r in reports]]
    tokens = [0.0, *[r.cost.usage.prompt_tokens / max(r.queries, 1) for r in reports]]
    quality = [first.input["nDCG@10"], *[r.reranked["nDCG@10"] for r in reports]]
    front = pareto_front(list(zip(tokens, quality, strict=True)))
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    on_front = set(front)
    for marker, members, label in (
        ("o", [i for i in range(len(names)) if i in on_front], "Pareto front"),
        ("x", [i for i in range(len(names)) if i not in on_front], "dominated"),
    ):
        if members:
            ax.scatter(
                [tokens[i] for i in members],
                [quality[i] for i in members],
                marker=marker,
                label=label,
            )
    ax.plot([tokens[i] for i in front], [quality[i] for i in front], alpha=0.5)
    for name, x, y in zip(names, tokens, quality, strict=True):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlim(left=-0.03 * max(tokens))
    ax.set_xlabel("prompt tokens per query")
    ax.set_ylabel("nDCG@10")
    ax.set_title(f"quality vs cost, {first.judged_queries} queries, depth {first.depth}")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(plt, fig, path)


def _short(label: str, width: int = 32) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def _save(plt: Any, fig: Figure, path: Path) -> list[Path]:
    fig.tight_layout()
    base = path.with_suffix("") if path.suffix in (".png", ".svg") else path
    written = [base.parent / f"{base.name}.png", base.parent / f"{base.name}.svg"]
    base.parent.mkdir(parents=True, exist_ok=True)
    for out in written:
        fig.savefig(out)
    plt.close(fig)
    return written
