"""The quality-vs-cost picture of an answer eval: each variant as a point, answer
quality against LLM calls per question, so a gain is read next to its price."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rankgraph.errors import ConfigError
from rankgraph.eval.qa_scoring import VariantSummary


def quality_vs_calls(summaries: Sequence[VariantSummary], path: Path) -> list[Path]:
    """Write `path` as PNG and SVG (contains and F1 against calls per question)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError("--plot needs matplotlib: pip install 'rankgraph[plot]'") from exc
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
    fig.tight_layout()
    base = path.with_suffix("") if path.suffix in (".png", ".svg") else path
    written = [base.parent / f"{base.name}.png", base.parent / f"{base.name}.svg"]
    base.parent.mkdir(parents=True, exist_ok=True)
    for out in written:
        fig.savefig(out)
    plt.close(fig)
    return written
