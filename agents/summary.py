"""A run's story in a few rich tables: queries, ranking moves, filter decisions,
and what each node cost. Shared by `ask`, `demo` and `trace show`."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from rankgraph.agents.answer import Answer
from rankgraph.trace import TraceEvent
from rankgraph.ui import plain, safe_text


def _steps(trace: list[TraceEvent], node: str) -> list[TraceEvent]:
    return [e for e in trace if e.node == node and e.kind == "step"]


def citations_text(answer: Answer) -> Text:
    text = Text()
    if answer.abstained:
        text.append(plain(f"(abstained: {answer.abstain_reason})\n"), style="yellow")
    for c in answer.citations:
        text.append(f"[{c.n}] ", style="bold cyan")
        text.append(plain(c.title or c.passage_id), style="cyan")
        if c.quoted:
            text.append(" (quoted: the reply only restated the question)", style="yellow")
        text.append(plain(f"  {c.source or ''} ({c.doc_id or c.passage_id})\n"), style="dim")
    return text


def _namer(answer: Answer) -> dict[str, str]:
    """Passage id → a readable name (its title), from the retrieve steps and kept passages."""
    names: dict[str, str] = {}
    for event in _steps(answer.trace, "retrieve"):
        names.update(event.data.get("titles", {}))
    names.update({p.id: p.title for p in answer.passages if p.title})
    return names


def story(answer: Answer) -> Group:
    """Queries, rank moves, filter decisions, per-node cost."""
    names = _namer(answer)

    def name(pid: str) -> str:
        return names.get(pid) or (pid if len(pid) <= 24 else pid[:12] + "…")

    parts: list[Any] = []
    lines = Text()
    for warning in _steps(answer.trace, "input"):
        lines.append(plain(f"warning: {warning.data.get('warning')}\n"), style="yellow")
    for event in [e for e in answer.trace if e.node == "rewrite"]:
        queries = event.data.get("queries", [])
        lines.append(f"rewrite ({event.method}): ", style="bold")
        lines.append(plain(" | ".join(queries)) + "\n")
    for event in _steps(answer.trace, "retrieve"):
        lines.append(f"retrieve round {event.data.get('round')}: ", style="bold")
        lines.append(f"{event.data.get('found')} found, {event.data.get('carried')} carried\n")
    for event in (e for e in _steps(answer.trace, "rerank") if e.method == "skip"):
        lines.append("rerank (skip): ", style="bold")
        lines.append(plain(str(event.data.get("reason", ""))) + "\n")
    for event in (e for e in _steps(answer.trace, "rerank") if "moves" in e.data):
        moved = event.data.get("moves", [])
        lines.append(f"rerank ({event.method}): ", style="bold")
        shown = ", ".join(f"{name(pid)} {old}→{new}" for pid, old, new in moved[:6])
        lines.append(plain(f"{len(moved)} moved" + (f" ({shown})" if shown else "")) + "\n")
    for event in _steps(answer.trace, "filter"):
        lines.append(f"filter ({event.method}): ", style="bold")
        tau = event.data.get("tau")
        scores = event.data.get("scores", {})
        kept = list(event.data.get("kept", []))  # in the order generate reads them
        decisions = ", ".join(
            f"{name(pid)} {score:.2f}{'✓' if pid in kept else '✗'}" for pid, score in scores.items()
        )
        tau_text = f"τ={tau:.2f} " if isinstance(tau, float) else ""
        lines.append(plain(f"{tau_text}{decisions or ', '.join(map(name, kept))}") + "\n")
        if event.data.get("skip"):
            lines.append(plain(f"  skip: {event.data['skip']}") + "\n", style="dim")
        if event.data.get("loop") and not event.data.get("feedback"):
            lines.append(plain(f"  loop: {event.data['loop']}") + "\n", style="dim")
        if event.data.get("feedback"):
            feedback = plain(event.data["feedback"])
            lines.append(f"  → corrective round: {feedback}\n", style="yellow")
    for event in (e for e in answer.trace if e.node == "generate" and e.method == "vote"):
        chosen = event.parsed.get("chosen") if isinstance(event.parsed, dict) else None
        agreement = event.data.get("agreement", [])
        pick = "abstain (most answers abstained)" if chosen is None else f"answer {chosen + 1}"
        lines.append(f"generate (vote of {len(agreement)}): ", style="bold")
        lines.append(plain(f"{pick}; agreement {' '.join(f'{a:.2f}' for a in agreement)}\n"))
    parts.append(lines)
    parts.append(cost_table(answer))
    return Group(*parts)


def cost_table(answer: Answer) -> Table:
    table = Table(title=f"cost ({answer.wall_ms / 1000:.1f} s wall)", show_edge=False)
    for column in ("node", "calls", "prompt tok", "completion tok", "wall s"):
        table.add_column(column, justify="left" if column == "node" else "right")
    for node, usage in answer.usage.items():
        wall = answer.node_ms.get(node)
        table.add_row(
            node,
            str(usage.calls),
            str(usage.prompt_tokens),
            str(usage.completion_tokens),
            f"{wall / 1000:.2f}" if wall is not None else "",
            style="bold" if node == "total" else None,
        )
    return table


def events_table(trace: list[TraceEvent]) -> Table:
    table = Table(show_edge=False)
    for column in ("#", "node", "method", "kind", "tokens", "ms", "outcome"):
        table.add_column(column)
    for i, e in enumerate(trace, start=1):
        outcome = e.error or (repr(e.parsed)[:60] if e.parsed is not None else "")
        if e.repairs:
            outcome += f" repairs: {'; '.join(e.repairs)[:60]}"
        table.add_row(
            str(i),
            safe_text(e.node),
            safe_text(e.method or ""),
            e.kind,
            str(e.usage.total_tokens or ""),
            f"{e.latency_ms:.0f}",
            safe_text(outcome),
            style="red" if e.error else None,
        )
    return table


def print_answer(console: Console, answer: Answer, *, text: bool = True) -> None:
    """The answer and its citations (`text=False`: its text was streamed already)."""
    if text:
        console.print(safe_text(answer.answer))
    console.print(citations_text(answer))
