"""The trace page: a run told as a page a person reads, rendered on the server.

Question and rewrites → retrieved list → the reranker's moves (and each call's
window, parse and reasoning) → the judges' scores against the threshold → the
answer with its citations linked to the passages → cost per node. Built only from
the stored `RunRecord`; unknown keys in an event's `data` are shown, not dropped.
"""

from __future__ import annotations

import json
import re
import time
from html import escape
from importlib.resources import files
from string import Template
from typing import Any

from rankgraph.serve.traces import RunRecord
from rankgraph.trace import TraceEvent, Usage, usage_by_node

_CITE = re.compile(r"\[(\d+)\]")
_SHOWN = {"queries", "ids", "titles", "moves", "before", "after", "scores", "tau", "kept"}


def e(value: object) -> str:
    return escape(str(value), quote=True)


def _template(name: str) -> Template:
    return Template(files("rankgraph.serve").joinpath("templates", name).read_text("utf-8"))


def render_trace(record: RunRecord) -> str:
    names = _names(record)
    sections = [
        _header(record),
        _question(record),
        _retrieved(record, names),
        _rerank(record, names),
        _filter(record, names),
        _answer(record),
        _cost(record),
        _events(record.trace),
    ]
    title = f"{record.kind} trace · {record.question[:60]}"
    return _template("trace.html").substitute(
        title=e(title), body="\n".join(s for s in sections if s), id=e(record.id)
    )


def render_missing(run_id: str) -> str:
    body = (
        f"<section><h2>Not found</h2><p>No trace <code>{e(run_id)}</code>: it may be "
        "older than the retention (server.trace_max_count / trace_max_age_days).</p></section>"
    )
    return _template("trace.html").substitute(title="trace not found", body=body, id=e(run_id))


def _names(record: RunRecord) -> dict[str, str]:
    """Passage id → a readable label: its title, else a snippet of its text."""
    out: dict[str, str] = {}
    for event in record.trace:
        if event.node == "retrieve":
            out.update(event.data.get("titles", {}))
    passages = [*record.documents, *(record.answer.passages if record.answer else [])]
    for p in passages:
        out[p.id] = p.title or (p.text[:70] + ("…" if len(p.text) > 70 else ""))
    return out


def _label(pid: str, names: dict[str, str]) -> str:
    name = names.get(pid)
    return f'{e(name)} <code class="pid">{e(pid)}</code>' if name else f"<code>{e(pid)}</code>"


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{e(title)}</h2>\n{body}\n</section>'


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>{body}</details>"


def _pre(text: str | None) -> str:
    return f"<pre>{e(text)}</pre>" if text else ""


def _header(r: RunRecord) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created))
    status = f'<span class="badge {e(r.status)}">{e(r.status)}</span>'
    meta = [f"<b>{e(r.kind)}</b> run {status}", f"model <code>{e(r.model)}</code>", when]
    if r.wall_ms:
        meta.append(f"{r.wall_ms / 1000:.2f} s wall")
    if r.thread_id:
        meta.append(f"thread <code>{e(r.thread_id)}</code>")
    meta.append(f'<a href="/v1/traces/{e(r.id)}">JSON</a>')
    error = f'<p class="error">{e(r.error)}</p>' if r.error else ""
    return (
        f'<header><h1>{e(r.question)}</h1><p class="meta">{" · ".join(meta)}</p>'
        f'<p class="meta">trace <code>{e(r.id)}</code></p>{error}</header>'
    )


def _question(r: RunRecord) -> str:
    rows: list[str] = []
    if r.history:
        turns = "".join(
            f"<li><b>{e(t.get('role', ''))}</b>: {e(t.get('content', ''))}</li>" for t in r.history
        )
        rows.append(f"<p>Conversation before this question:</p><ol class='history'>{turns}</ol>")
    for event in (ev for ev in r.trace if ev.node in {"input", "rewrite"}):
        if event.node == "input":
            rows.append(f'<p class="warn">{e(event.data.get("warning", event.method))}</p>')
            continue
        queries = "".join(f"<li>{e(q)}</li>" for q in event.data.get("queries", []))
        how = "no LLM call needed" if event.method == "skip" else f"{e(event.method)}"
        rows.append(f"<p>Rewrite ({how}) searched for:</p><ol class='queries'>{queries}</ol>")
        if event.kind == "llm":
            rows.append(_details("the rewrite call", _call(event)))
    return _section("question", "Question and rewrites", "\n".join(rows)) if rows else ""


def _retrieved(r: RunRecord, names: dict[str, str]) -> str:
    kept = {p.id for p in r.answer.passages} if r.answer else set()
    rows: list[str] = []
    for event in (ev for ev in r.trace if ev.node == "retrieve" and ev.kind == "step"):
        ranks = event.data.get("ranks", {})
        items = "".join(
            f"<li class='{'kept' if pid in kept else ''}'>{_label(pid, names)}"
            f"{_ranks(ranks.get(pid, {}))}</li>"
            for pid in event.data.get("ids", [])
        )
        rows.append(
            f"<h3>Round {e(event.data.get('round', '?'))} ({e(event.method or 'default')}): "
            f"{e(event.data.get('found', '?'))} found, {e(event.data.get('carried', 0))} carried"
            f"</h3><ol class='ranked'>{items}</ol>"
        )
    if r.kind == "rerank":
        items = "".join(f"<li>{_label(p.id, names)}</li>" for p in r.documents)
        rows.append(f"<p>Documents as sent:</p><ol class='ranked' start='0'>{items}</ol>")
    return _section("retrieved", "Retrieved", "\n".join(rows)) if rows else ""


def _ranks(ranks: dict[str, int]) -> str:
    """Where the first stage found a passage: " <small>dense 1 · BM25 4</small>"."""
    names = {"dense": "dense", "bm25": "BM25"}
    ordered = sorted(ranks.items(), key=lambda item: item[0] != "dense")  # dense first
    found = [f"{names.get(kind, kind)} {rank}" for kind, rank in ordered]
    return f" <small class='ranks'>{e(' · '.join(found))}</small>" if found else ""


def _move(old: int, new: int) -> str:
    if new < old:
        return f'<span class="up">▲ {old - new}</span>'
    return f'<span class="down">▼ {new - old}</span>'


def _rerank(r: RunRecord, names: dict[str, str]) -> str:
    rows: list[str] = []
    events = [ev for ev in r.trace if ev.node == "rerank"]
    for event in (ev for ev in events if ev.kind == "step" and ev.method == "skip"):
        rows.append(f"<p>Skipped, no LLM call: {e(event.data.get('reason', ''))}.</p>")
    for event in (ev for ev in events if ev.kind == "step" and "moves" in ev.data):
        moves = event.data.get("moves", [])
        table = "".join(
            f"<tr><td>{_label(str(pid), names)}</td><td>{e(old)}</td><td>→</td>"
            f"<td>{e(new)}</td><td>{_move(int(old), int(new))}</td></tr>"
            for pid, old, new in moves
        )
        head = "<tr><th>passage</th><th>before</th><th></th><th>after</th><th>move</th></tr>"
        before = "".join(f"<li>{_label(p, names)}</li>" for p in event.data.get("before", []))
        after = "".join(f"<li>{_label(p, names)}</li>" for p in event.data.get("after", []))
        rows.append(
            f"<p>Method <b>{e(event.method)}</b>: {len(moves)} passages moved"
            f"{_flags(event)}.</p>"
            + (f"<table class='moves'>{head}{table}</table>" if moves else "")
            + "<div class='columns'><div><h3>before</h3>"
            f"<ol class='ranked'>{before}</ol></div><div><h3>after</h3>"
            f"<ol class='ranked'>{after}</ol></div></div>"
        )
    for event in (ev for ev in events if ev.kind == "step" and "fusion" in ev.data):
        inputs = _rerank_inputs(r)

        def order(key: str, inputs: list[str] = inputs, event: TraceEvent = event) -> str:
            return ", ".join(
                names.get(inputs[i], inputs[i])[:30]
                if isinstance(i, int) and i < len(inputs)
                else str(i)
                for i in event.data.get(key, [])
            )

        rows.append(
            f"<p>Fused with the first stage ({e(event.data['fusion'])}, LLM weight "
            f"{e(event.data.get('fusion_weight'))}): the method's order <i>{e(order('before'))}"
            f"</i> became <i>{e(order('after'))}</i></p>"
        )
    calls = [ev for ev in events if ev.kind == "llm"]
    for i, call in enumerate(calls, start=1):
        window = call.data.get("passage_ids") or [call.data.get("passage_id")] * bool(
            call.data.get("passage_id")
        )
        label = ", ".join(names.get(str(p), str(p))[:30] for p in window) if window else ""
        outcome = f"error: {call.error}" if call.error else f"parsed {_short(call.parsed)}"
        summary = (
            f"call {i}{f' on [{e(label)}]' if label else ''}: {e(outcome)}"
            f"{' · reasoning kept' if call.reasoning else ''}"
        )
        rows.append(_details(summary, _call(call)))
    return _section("rerank", "Reranking", "\n".join(rows)) if rows else ""


def _rerank_inputs(r: RunRecord) -> list[str]:
    """The ids the reranker saw, in input order (fusion steps refer to them by index)."""
    if r.documents:
        return [p.id for p in r.documents]
    rounds = [ev for ev in r.trace if ev.node == "retrieve" and ev.kind == "step"]
    return [str(pid) for pid in rounds[-1].data.get("ids", [])] if rounds else []


def _flags(event: TraceEvent) -> str:
    flags = [f"{k}: {event.data[k]}" for k in ("repairs", "failures") if event.data.get(k)]
    if event.data.get("budget_exhausted"):
        flags.append("budget exhausted")
    return f" ({e('; '.join(flags))})" if flags else ""


def _filter(r: RunRecord, names: dict[str, str]) -> str:
    rows: list[str] = []
    judges = [ev for ev in r.trace if ev.node == "filter" and ev.kind == "llm"]
    for event in (ev for ev in r.trace if ev.node == "filter" and ev.kind == "step"):
        tau = event.data.get("tau")
        kept = set(event.data.get("kept", []))
        scores: dict[str, Any] = event.data.get("scores", {})
        threshold = f"threshold τ = <b>{tau:.3f}</b>" if isinstance(tau, float) else ""
        rows.append(f"<p>Mode <b>{e(event.method)}</b> {threshold}; kept {len(kept)}.</p>")
        body = "".join(
            f"<tr class='{'kept' if pid in kept else 'dropped'}'><td>{_label(pid, names)}</td>"
            f"<td>{_bar(score, tau)}</td><td>{'✓ kept' if pid in kept else '✗ dropped'}</td>"
            "</tr>"
            for pid, score in scores.items()
        )
        if body:
            rows.append(
                "<table class='scores'><tr><th>passage</th><th>judges' score</th><th></th></tr>"
                f"{body}</table>"
            )
        if event.data.get("feedback"):
            rows.append(f'<p class="warn">corrective round: {e(event.data["feedback"])}</p>')
    for judge in judges:
        pid = str(judge.data.get("passage_id", "?"))
        rows.append(
            _details(
                f"judge {e(judge.method)} on {e(names.get(pid, pid)[:40])}: "
                f"P(Yes) = {e(_short(judge.parsed))}",
                _call(judge),
            )
        )
    return _section("filter", "Filter: the judges", "\n".join(rows)) if rows else ""


def _bar(score: Any, tau: Any) -> str:
    if not isinstance(score, int | float):
        return e(score)
    width = max(0.0, min(1.0, float(score))) * 100
    mark = (
        f"<i style='left:{max(0.0, min(1.0, float(tau))) * 100:.1f}%'></i>"
        if isinstance(tau, float)
        else ""
    )
    return f"<span class='bar'><b style='width:{width:.1f}%'></b>{mark}</span> {score:.3f}"


def _answer(r: RunRecord) -> str:
    if r.answer is None:
        return ""
    a = r.answer
    text = _CITE.sub(lambda m: f'<a class="cite" href="#p-{m[1]}">[{m[1]}]</a>', e(a.answer))
    badge = f'<p class="warn">abstained: {e(a.abstain_reason)}</p>' if a.abstained else ""
    if quoted := [f"[{c.n}]" for c in a.citations if c.quoted]:
        badge += (
            f'<p class="warn">quoted {", ".join(quoted)}: the reply only restated the question</p>'
        )
    cited = {c.n for c in a.citations}
    passages = "".join(
        f'<li id="p-{n}" class="{"cited" if n in cited else ""}"><b>[{n}]</b> '
        f"{e(p.title or '')} <code class='pid'>{e(p.id)}</code> "
        f"<span class='src'>{e(p.source or '')}</span><blockquote>{e(p.text)}</blockquote></li>"
        for n, p in enumerate(a.passages, start=1)
    )
    return _section(
        "answer",
        "Answer",
        f'{badge}<p class="answer">{text}</p><h3>Passages it could cite</h3>'
        f'<ol class="passages">{passages}</ol>',
    )


def _cost(r: RunRecord) -> str:
    usage: dict[str, Usage] = usage_by_node(r.trace)
    step_ms: dict[str, float] = {}
    for event in r.trace:
        step_ms[event.node] = step_ms.get(event.node, 0.0) + event.latency_ms
    rows = "".join(
        f"<tr><td>{e(node)}</td><td>{u.calls}</td><td>{u.prompt_tokens}</td>"
        f"<td>{u.completion_tokens}</td><td>{step_ms.get(node, 0.0) / 1000:.2f}</td>"
        f"<td>{_secs(r.node_ms.get(node))}</td></tr>"
        for node, u in usage.items()
    )
    total = sum(usage.values(), Usage())
    rows += (
        f"<tr class='total'><td>total</td><td>{total.calls}</td><td>{total.prompt_tokens}</td>"
        f"<td>{total.completion_tokens}</td><td>{total.latency_ms / 1000:.2f}</td>"
        f"<td>{_secs(r.wall_ms)}</td></tr>"
    )
    head = (
        "<tr><th>node</th><th>LLM calls</th><th>prompt tokens</th><th>completion tokens</th>"
        "<th>latency s (sum)</th><th>wall s</th></tr>"
    )
    return _section("cost", "Calls, tokens and latency per node", f"<table>{head}{rows}</table>")


def _secs(ms: float | None) -> str:
    return f"{ms / 1000:.2f}" if ms else ""


def _events(trace: list[TraceEvent]) -> str:
    items = "".join(
        _details(
            f"#{i} {e(ev.node)} · {e(ev.method or '')} · {e(ev.kind)}"
            f"{' · ' + str(ev.usage.total_tokens) + ' tok' if ev.usage.total_tokens else ''}"
            f" · {ev.latency_ms:.0f} ms{' · <b class=error>error</b>' if ev.error else ''}",
            _call(ev),
        )
        for i, ev in enumerate(trace, start=1)
    )
    return _section("events", f"Every event ({len(trace)})", items)


def _call(event: TraceEvent) -> str:
    """One event in full: prompt, reply, reasoning, parse, repairs, other data."""
    parts: list[str] = []
    if event.error:
        parts.append(f'<p class="error">{e(event.error)}</p>')
    for message in event.messages or []:
        parts.append(f"<h4>{e(message.get('role', ''))}</h4>{_pre(str(message.get('content')))}")
    if event.reasoning:
        parts.append(f"<h4>reasoning</h4>{_pre(event.reasoning)}")
    if event.reply is not None:
        parts.append(f"<h4>reply</h4>{_pre(event.reply)}")
    if event.parsed is not None:
        parts.append(f"<h4>parsed</h4>{_pre(_json(event.parsed))}")
    if event.repairs:
        parts.append("<h4>repairs</h4><ul>" + "".join(f"<li>{e(x)}</li>" for x in event.repairs))
        parts.append("</ul>")
    other = {k: v for k, v in event.data.items() if k not in _SHOWN or not event.messages}
    if other:
        parts.append(f"<h4>data</h4>{_pre(_json(other))}")
    return "".join(parts) or "<p>(no details)</p>"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1, default=str)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "…"
