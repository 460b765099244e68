"""`rankgraph eval answers`: pipeline variants side by side on the same questions.

Each variant is a pipeline configuration (a built-in name such as `plain` or
`default`, or a settings file); all run over the same questions — answerable
ones, and optionally the same questions again with their answer documents
removed from retrieval (`eval.unanswerable`) — with questions in flight
concurrently so the engine stays busy. One table compares quality and cost; a
JSONL keeps every answer with its passages per stage; a plot shows quality
against LLM calls. The index is shared with `rankgraph eval retrieval` (same
collection name for the same corpus and chunking), so it is built once.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from rankgraph.agents.answer import Answer
from rankgraph.agents.pipeline import Pipeline
from rankgraph.agents.state import Turn
from rankgraph.config import Settings, load_settings
from rankgraph.errors import InputError, RankgraphError
from rankgraph.eval.qa_scoring import (
    QA,
    Paired,
    QuestionResult,
    Stages,
    VariantSummary,
    contains_answer,
    doc_ids,
    exact_match,
    passage_holds,
    summarize,
    token_f1,
)
from rankgraph.eval.unanswerable import Excluding
from rankgraph.eval.variants import BUILTIN_VARIANTS, Variant, variants
from rankgraph.llm.client import LLMClient
from rankgraph.ui import exit_on_error, progress_bar, safe_text

Split = Literal["dev", "test", "all"]
SPLITS: tuple[Split, ...] = ("dev", "test", "all")

# -- questions ---------------------------------------------------------------------------


def load_qa(path: Path, split: Split = "all", limit: int | None = None) -> list[QA]:
    """Questions of one half of the file (`dev`: first half, `test`: second), first `limit`."""
    if not path.is_file():
        raise InputError(f"questions file not found: {path}")
    out: list[QA] = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                out.append(QA.model_validate_json(line))
            except ValidationError as exc:
                raise InputError(f"{path}:{line_no}: not a question record: {exc}") from exc
    half = (len(out) + 1) // 2
    chosen = {"dev": out[:half], "test": out[half:], "all": out}[split]
    return chosen[:limit] if limit is not None else chosen


def qa_task(corpus: Path, questions: Path, split: str, limit: int | None) -> list[QA]:
    """The questions a command runs on, after checking its --split and --corpus."""
    chosen = next((s for s in SPLITS if s == split), None)
    if chosen is None:
        raise InputError(f"--split must be dev, test or all, not {split!r}")
    if not corpus.is_file():
        raise InputError(f"corpus file not found: {corpus}")
    return load_qa(questions, chosen, limit)


def index_corpus(settings: Settings, corpus: Path) -> str:
    """Index `corpus` once (the collection is named after its content and chunking)."""
    from rankgraph.eval.retrieval import eval_collection_name, file_digest
    from rankgraph.retrieval import Store, index_paths

    name = eval_collection_name(file_digest(corpus), settings)
    index_paths(Store.from_settings(settings, name), [corpus])
    return name


# -- running -----------------------------------------------------------------------------


async def _ask(pipe: Pipeline, qa: QA) -> tuple[Answer, Stages, dict[str, str]]:
    """The answer, what each stage searched for or handed on (the last round's), and
    passage id -> document id."""
    stages = Stages()
    doc_of: dict[str, str] = {}
    answer: Answer | None = None
    history = [Turn(role=t.role, content=t.content) for t in qa.history]
    async for event in pipe.events(qa.question, history=history):
        update = event.update
        if event.node == "rewrite" and "queries" in update:
            stages.queries = list(update["queries"])
        elif event.node == "retrieve" and "candidates" in update:
            stages.retrieved = doc_ids(update["candidates"])
            doc_of.update(zip((p.id for p in update["candidates"]), stages.retrieved, strict=True))
        elif event.node == "rerank" and "reranked" in update:
            stages.reranked = doc_ids(update["reranked"])
        elif event.node == "filter" and "kept" in update:
            stages.kept = doc_ids(update["kept"])
        elif event.answer is not None:
            answer = event.answer
    if answer is None:  # pragma: no cover - stream always ends with the answer
        raise RankgraphError("the pipeline ended without an answer")
    return answer, stages, doc_of


def score_answer(
    variant: str,
    qa: QA,
    answerable: bool,
    answer: Answer,
    stages: Stages,
    doc_of: dict[str, str] | None = None,
) -> QuestionResult:
    """One row: the answer scored against the gold aliases (an abstention scores 0)."""
    by_id = {p.id: p for p in answer.passages}
    cited = [by_id[c.passage_id] for c in answer.citations if c.passage_id in by_id]
    text = "" if answer.abstained else answer.answer
    total = answer.usage.get("total")
    doc_of = doc_of or {}
    replies = [e.reply for e in answer.trace if e.node == "generate" and e.method == "cited"]
    draft = replies[-1] if replies and replies[-1] != answer.answer else None
    judged: dict[str, float] = {}
    for event in answer.trace:  # every relevance judgement, by document (for tuning)
        pid = event.data.get("passage_id")
        if event.kind == "llm" and isinstance(pid, str) and isinstance(event.parsed, float):
            doc = doc_of.get(pid, pid)
            judged[doc] = max(judged.get(doc, 0.0), event.parsed)
    return QuestionResult(
        variant=variant,
        qid=qa.qid,
        question=qa.question,
        gold=qa.answers,
        answerable=answerable,
        answer=answer.answer,
        abstained=answer.abstained,
        abstain_reason=answer.abstain_reason,
        draft=draft,
        draft_contains=float(draft is not None and contains_answer(draft, qa.answers)),
        citations=[c.passage_id for c in answer.citations],
        quoted=any(c.quoted for c in answer.citations),
        cited_hold_answer=[passage_holds(p, qa.answers) for p in cited],
        kept_hold_answer=any(passage_holds(p, qa.answers) for p in answer.passages),
        stages=stages,
        judged=judged,
        answer_doc_ids=qa.answer_doc_ids,
        contains=float(contains_answer(text, qa.answers)),
        exact_match=exact_match(text, qa.answers),
        f1=token_f1(text, qa.answers),
        calls=total.calls if total else 0,
        prompt_tokens=total.prompt_tokens if total else 0,
        completion_tokens=total.completion_tokens if total else 0,
        wall_s=answer.wall_ms / 1000,
    )


async def run_variant(
    variant: Variant,
    client: LLMClient,
    answerable: Sequence[QA],
    unanswerable: Sequence[QA],
    concurrency: int,
    advance: Callable[[int], None] = lambda _n: None,
) -> tuple[list[QuestionResult], float]:
    """Every question through one variant's pipeline, `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)
    async with Pipeline.from_config(variant.settings, client=client) as pipe:

        async def one(qa: QA, is_answerable: bool) -> QuestionResult:
            async with gate:
                runner = pipe
                if not is_answerable:
                    deps = replace(
                        pipe.deps,
                        retriever=Excluding(pipe.deps.retriever, frozenset(qa.answer_doc_ids)),
                    )
                    runner = Pipeline(deps, builder=pipe.builder)
                try:
                    answer, stages, doc_of = await _ask(runner, qa)
                    row = score_answer(variant.name, qa, is_answerable, answer, stages, doc_of)
                except RankgraphError as exc:  # counted and reported, never scored as an answer
                    row = QuestionResult(
                        variant=variant.name,
                        qid=qa.qid,
                        question=qa.question,
                        gold=qa.answers,
                        answerable=is_answerable,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                advance(1)
                return row

        started = time.perf_counter()
        rows = await asyncio.gather(
            *(one(qa, True) for qa in answerable), *(one(qa, False) for qa in unanswerable)
        )
        return list(rows), time.perf_counter() - started


async def evaluate(
    chosen: Sequence[Variant],
    corpus: Path,
    answerable: Sequence[QA],
    unanswerable: Sequence[QA],
    *,
    concurrency: int,
) -> tuple[list[VariantSummary], list[QuestionResult]]:
    """Index `corpus` (once), run each variant over the same questions, score.

    Variants share a client when their `[llm]` and `[engine]` settings agree; one
    with another model, preset or endpoint gets its own, so one run can compare,
    say, the 0.5B graph with the 1.5B plain chain. Every client is built before
    any question is asked: an engine that is not running fails the run at once.
    """
    summaries: list[VariantSummary] = []
    rows: list[QuestionResult] = []
    by_endpoint: dict[str, LLMClient] = {}  # one client per distinct [llm] + [engine]
    clients: list[LLMClient] = []
    total = len(answerable) + len(unanswerable)
    try:
        for variant in chosen:
            settings = variant.settings
            key = settings.llm.model_dump_json() + settings.engine.model_dump_json()
            if key not in by_endpoint:
                by_endpoint[key] = LLMClient.from_settings(settings)
            clients.append(by_endpoint[key])
        for variant, client in zip(chosen, clients, strict=True):
            collection = await asyncio.to_thread(index_corpus, variant.settings, corpus)
            settings = variant.settings
            ready = replace(
                variant,
                settings=settings.with_pipeline(settings.pipeline.with_collection(collection)),
            )
            with progress_bar(variant.name, total) as advance:
                got, wall = await run_variant(
                    ready, client, answerable, unanswerable, concurrency, advance
                )
            top_k = ready.settings.pipeline.rerank.top_k
            summaries.append(summarize(variant.name, got, top_k, wall))
            rows.extend(got)
    finally:
        for client in by_endpoint.values():
            await client.close()
    return with_paired(summaries, rows), rows


def with_paired(
    summaries: Sequence[VariantSummary], rows: Sequence[QuestionResult]
) -> list[VariantSummary]:
    """Each variant after the first, compared with the first on the answerable
    questions both answered without error (the first is the baseline, e.g. plain)."""
    from rankgraph.eval.compare import paired_permutation_p

    def scores(variant: str, field: Literal["contains", "f1"]) -> dict[str, float]:
        return {
            r.qid: getattr(r, field)
            for r in rows
            if r.variant == variant and r.answerable and r.error is None
        }

    if len(summaries) < 2:
        return list(summaries)
    base = summaries[0].variant
    a, a_f1 = scores(base, "contains"), scores(base, "f1")
    out = [summaries[0]]
    for s in summaries[1:]:
        b = scores(s.variant, "contains")
        shared = a.keys() & b.keys()
        paired = Paired(
            against=base,
            better=sum(b[q] > a[q] for q in shared),
            worse=sum(b[q] < a[q] for q in shared),
            p_contains=paired_permutation_p(a, b),
            p_f1=paired_permutation_p(a_f1, scores(s.variant, "f1")),
        )
        out.append(s.model_copy(update={"paired": paired}))
    return out


# -- output ------------------------------------------------------------------------------


def _f(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _cells(s: VariantSummary) -> dict[str, str]:
    """One variant's column: metric name → formatted value."""
    tokens = s.prompt_tokens_per_question + s.completion_tokens_per_question
    return {
        "contains": _f(s.contains),
        "exact match": _f(s.exact_match),
        "token F1": _f(s.f1),
        "citation precision": _f(s.citation_precision, 2),
        "citation recall": _f(s.citation_recall, 2),
        "abstained, answerable": _f(s.abstain_answerable, 2),
        "abstained, unanswerable": _f(s.abstain_unanswerable, 2),
        "answer in the passages read": _f(s.answer_in_passages, 2),
        "abstained, answer in passages": _f(s.abstain_held, 2),
        "abstained, answer not in passages": _f(s.abstain_missing, 2),
        "abstained, the draft held the answer": _f(s.abstain_right_draft, 2),
        **{f"answer-doc recall, {k}": _f(v) for k, v in s.recall.items()},
        "better / worse than the first (contains)": (
            f"{s.paired.better} / {s.paired.worse}" if s.paired else "—"
        ),
        "p, contains (paired)": _f(s.paired.p_contains, 3) if s.paired else "—",
        "p, token F1 (paired)": _f(s.paired.p_f1, 3) if s.paired else "—",
        "LLM calls / question": f"{s.calls_per_question:.1f}",
        "tokens / question": f"{tokens:,.0f}",
        "wall s / question": f"{s.wall_s_per_question:.1f}",
        "failed questions": str(s.failures),
    }


def render(summaries: Sequence[VariantSummary], console: Console) -> None:
    """Metrics as rows, one column per variant: narrow enough for any terminal."""
    first = summaries[0]
    title = f"answers: {first.answerable} answerable" + (
        f" + {first.unanswerable} unanswerable" if first.unanswerable else ""
    )
    table = Table(title=title)
    table.add_column("metric")
    for s in summaries:
        table.add_column(safe_text(s.variant), justify="right")
    columns = [_cells(s) for s in summaries]
    # variants with different top-k report recall at different depths: show every row
    metrics = list(dict.fromkeys(metric for column in columns for metric in column))
    for metric in metrics:
        table.add_row(metric, *(column.get(metric, "—") for column in columns))
    console.print(table)


def write_jsonl(rows: Sequence[QuestionResult], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(row.model_dump_json() + "\n")


def eval_answers(
    corpus: Annotated[Path, typer.Option("--corpus", help="Corpus JSONL (id, title, text).")],
    questions: Annotated[
        Path,
        typer.Option(
            "--questions",
            help="Questions JSONL (question, answers, answer_doc_ids; history: chat turns before).",
        ),
    ],
    variant: Annotated[
        list[str] | None,
        typer.Option(
            "--variant",
            "-V",
            help=f"A built-in variant ({', '.join(BUILTIN_VARIANTS)}); repeat to compare.",
        ),
    ] = None,
    config: Annotated[
        list[Path] | None,
        typer.Option("--config", help="A settings file (TOML/YAML) as one more variant; repeat."),
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="dev (first half of the file), test (second) or all.")
    ] = "all",
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="First N questions.")] = None,
    unanswerable: Annotated[
        int,
        typer.Option(
            "--unanswerable",
            help="Also ask the first N questions with their answer documents removed.",
        ),
    ] = 0,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Questions in flight per variant.")
    ] = 8,
    jsonl: Annotated[
        Path | None, typer.Option("--jsonl", help="Write every answer, per variant, as JSONL.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Quality-vs-calls plot (FILE.png and FILE.svg).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summaries as JSON.")] = False,
) -> None:
    """Compare pipeline variants on the same questions: quality, abstention, recall, cost.

    With no --variant and no --config, compares `plain` (retrieve → generate)
    with `default` (the shipped graph).
    """
    console = Console(stderr=True) if json_out else Console()
    with exit_on_error():
        qas = qa_task(corpus, questions, split, limit)
        base = load_settings()
        names = variant or ([] if config else ["plain", "default"])
        chosen = variants(base, names, config or [])
        hidden = [qa for qa in qas[:unanswerable] if qa.answer_doc_ids]
        summaries, rows = asyncio.run(
            evaluate(chosen, corpus, qas, hidden, concurrency=concurrency)
        )
    if jsonl is not None:
        write_jsonl(rows, jsonl)
    if plot is not None:
        from rankgraph.eval.plot import quality_vs_calls

        for path in quality_vs_calls(summaries, plot):
            console.print(f"wrote {path}", markup=False)
    if json_out:
        sys.stdout.write(json.dumps([s.model_dump() for s in summaries], indent=2) + "\n")
    else:
        render(summaries, console)
    if any(s.failures for s in summaries):
        failed = ", ".join(f"{s.variant}: {s.failures}" for s in summaries if s.failures)
        Console(stderr=True).print(f"error: questions failed ({failed}); see --jsonl", markup=False)
        raise typer.Exit(1)
