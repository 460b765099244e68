"""Answer evaluation: the whole agent graph on a QA set (the wiki-nq shape).

Per question the pipeline runs once; the eval reads the node updates to score
each stage. Measures:

- exact match, token F1 (SQuAD normalisation: lowercase, no punctuation, no
  articles) and "contains" (a gold alias appears in the answer), citation
  markers stripped; an abstention scores 0;
- answer-recall after retrieve, rerank and filter: a hit when a passage's
  `doc_id` metadata is one of the question's `answer_doc_ids` (retrieve is also
  cut at the rerank depth, so the rerank gain reads off one row);
- citation precision: the share of cited passages that contain a gold alias;
- abstention rate; LLM calls, tokens and wall time per node.

The index is shared with `rankgraph eval retrieval` (same collection name for
the same corpus and chunking), so it is built once.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import string
import sys
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.table import Table

from rankgraph.agents.answer import Answer
from rankgraph.agents.config import PipelineConfig
from rankgraph.agents.pipeline import Pipeline
from rankgraph.config import Settings, load_settings
from rankgraph.errors import InputError, RankgraphError
from rankgraph.schema import Passage
from rankgraph.trace import Usage

_CITATION = re.compile(r"\[\d+(?:\s*[,;]\s*\d+)*\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


class QA(BaseModel):
    model_config = ConfigDict(extra="ignore")

    qid: str
    question: str = Field(min_length=1)
    answers: list[str] = Field(min_length=1)
    answer_doc_ids: list[str] = Field(default_factory=list)


class NodeCost(BaseModel):
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0


class AnswerEval(BaseModel):
    corpus: str
    collection: str
    questions: int
    pipeline: dict[str, Any]
    exact_match: float
    f1: float
    contains: float
    recall: dict[str, float]  # stage@k -> share of questions with an answer document
    citation_precision: float | None
    cited_questions: int
    abstention_rate: float
    failures: int
    wall_s: float
    cost: dict[str, NodeCost]  # per node, plus "total"


# -- scoring (pure) ----------------------------------------------------------------------


def normalize(text: str) -> str:
    """SQuAD normalisation.

    >>> normalize("The  Beatles!")
    'beatles'
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if c in string.punctuation else c for c in text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def strip_citations(text: str) -> str:
    return _CITATION.sub(" ", text)


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    pred = normalize(strip_citations(prediction))
    return float(any(pred == normalize(g) for g in golds))


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """Best SQuAD token F1 over the gold aliases.

    >>> round(token_f1("Paris is the capital [1]", ["Paris"]), 2)
    0.5
    """
    pred = normalize(strip_citations(prediction)).split()
    best = 0.0
    for gold in golds:
        ref = normalize(gold).split()
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            precision, recall = common / len(pred), common / len(ref)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains_answer(text: str, golds: Sequence[str]) -> bool:
    """A gold alias as a whole-token run inside `text` (both normalised)."""
    hay = f" {normalize(strip_citations(text))} "
    return any(f" {n} " in hay for g in golds if (n := normalize(g)))


def doc_hit(passages: Sequence[Passage], answer_doc_ids: Sequence[str]) -> bool:
    return any(p.metadata.get("doc_id") in answer_doc_ids for p in passages)


# -- running ---------------------------------------------------------------------------


class _Stages(BaseModel):
    retrieved: list[Passage] = Field(default_factory=list)
    reranked: list[Passage] = Field(default_factory=list)
    kept: list[Passage] = Field(default_factory=list)


async def _run_one(pipe: Pipeline, qa: QA) -> tuple[Answer, _Stages]:
    stages = _Stages()
    answer: Answer | None = None
    async for event in pipe.stream(qa.question):
        update = event.update
        if event.node == "retrieve" and "candidates" in update:
            stages.retrieved = update["candidates"]
        elif event.node == "rerank" and "reranked" in update:
            stages.reranked = update["reranked"]
        elif event.node == "filter" and "kept" in update:
            stages.kept = update["kept"]
        elif event.answer is not None:
            answer = event.answer
    assert answer is not None
    return answer, stages


def load_qa(path: Path, limit: int | None) -> list[QA]:
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
            if limit is not None and len(out) >= limit:
                break
    return out


def _index(settings: Settings, corpus: Path, console: Console) -> str:
    from rankgraph.eval.retrieval import eval_collection_name, file_digest
    from rankgraph.retrieval import Store, index_paths

    name = eval_collection_name(file_digest(corpus), settings)
    store = Store.from_settings(settings, name)
    with console.status(f"indexing {corpus} into {name} (once per corpus)…"):
        index_paths(store, [corpus])
    return name


async def evaluate(
    settings: Settings, corpus: Path, qas: Sequence[QA], console: Console
) -> AnswerEval:
    """Index `corpus` (once), run the pipeline on every question, score."""
    collection = await asyncio.to_thread(_index, settings, corpus, console)
    settings = settings.model_copy(
        update={"pipeline": {**settings.pipeline, "collection": collection}}
    )
    config = PipelineConfig.from_settings(settings)
    rows: list[tuple[QA, Answer, _Stages]] = []
    failures = 0
    async with Pipeline.from_config(settings) as pipe:
        for i, qa in enumerate(qas, start=1):
            try:
                answer, stages = await _run_one(pipe, qa)
            except RankgraphError as exc:  # counted and reported, never hidden
                failures += 1
                console.print(f"[red]{qa.qid} failed:[/red] {exc}", markup=True)
                continue
            rows.append((qa, answer, stages))
            console.print(
                f"[dim]{i}/{len(qas)} {qa.qid}[/dim] "
                f"{'abstained' if answer.abstained else answer.answer[:70]!r}",
                highlight=False,
            )
    return score(rows, failures, config, str(corpus), collection)


def score(
    rows: Sequence[tuple[QA, Answer, _Stages]],
    failures: int,
    config: PipelineConfig,
    corpus: str,
    collection: str,
) -> AnswerEval:
    n = len(rows) or 1
    top_k = config.rerank.top_k

    def rate(values: Sequence[bool | float]) -> float:
        return sum(float(v) for v in values) / n

    recall = {
        f"retrieve@{config.retrieve.k}": rate(
            [doc_hit(s.retrieved, q.answer_doc_ids) for q, _, s in rows]
        ),
        f"retrieve@{top_k}": rate(
            [doc_hit(s.retrieved[:top_k], q.answer_doc_ids) for q, _, s in rows]
        ),
        f"rerank@{top_k}": rate([doc_hit(s.reranked, q.answer_doc_ids) for q, _, s in rows]),
        "filter(kept)": rate([doc_hit(s.kept, q.answer_doc_ids) for q, _, s in rows]),
    }
    precisions: list[float] = []
    for qa, answer, _ in rows:
        by_id = {p.id: p for p in answer.passages}
        cited = [by_id[c.passage_id] for c in answer.citations if c.passage_id in by_id]
        if cited:
            hits = [contains_answer(f"{p.title or ''} . {p.text}", qa.answers) for p in cited]
            precisions.append(statistics.fmean(hits))
    predictions = [("" if a.abstained else a.answer, q.answers) for q, a, _ in rows]
    cost: dict[str, NodeCost] = {}
    for _, answer, _ in rows:
        for node, usage in answer.usage.items():
            cost[node] = _add(cost.get(node, NodeCost()), usage, answer.node_ms.get(node, 0.0))
    wall = sum(a.wall_ms for _, a, _ in rows) / 1000
    if "total" in cost:
        cost["total"].wall_s = wall
    return AnswerEval(
        corpus=corpus,
        collection=collection,
        questions=len(rows),
        pipeline=config.model_dump(),
        exact_match=rate([exact_match(p, g) for p, g in predictions]),
        f1=rate([token_f1(p, g) for p, g in predictions]),
        contains=rate([contains_answer(p, g) for p, g in predictions]),
        recall=recall,
        citation_precision=statistics.fmean(precisions) if precisions else None,
        cited_questions=len(precisions),
        abstention_rate=rate([a.abstained for _, a, _ in rows]),
        failures=failures,
        wall_s=wall,
        cost=cost,
    )


def _add(cost: NodeCost, usage: Usage, wall_ms: float) -> NodeCost:
    return NodeCost(
        calls=cost.calls + usage.calls,
        prompt_tokens=cost.prompt_tokens + usage.prompt_tokens,
        completion_tokens=cost.completion_tokens + usage.completion_tokens,
        wall_s=cost.wall_s + wall_ms / 1000,
    )


def render(result: AnswerEval, console: Console) -> None:
    quality = Table(title=f"answers on {result.questions} questions ({result.collection})")
    for column in ("EM", "F1", "contains", "abstain", "cite prec", *result.recall):
        quality.add_column(column, justify="right")
    precision = result.citation_precision
    quality.add_row(
        f"{result.exact_match:.3f}",
        f"{result.f1:.3f}",
        f"{result.contains:.3f}",
        f"{result.abstention_rate:.3f}",
        f"{precision:.3f} (n={result.cited_questions})" if precision is not None else "—",
        *(f"{v:.3f}" for v in result.recall.values()),
    )
    console.print(quality)
    cost = Table(title=f"cost ({result.wall_s:.0f} s, {result.failures} failed)")
    for column in ("node", "calls", "prompt tok", "completion tok", "wall s"):
        cost.add_column(column, justify="left" if column == "node" else "right")
    for node, c in result.cost.items():
        cost.add_row(
            node, str(c.calls), str(c.prompt_tokens), str(c.completion_tokens), f"{c.wall_s:.1f}"
        )
    console.print(cost)


def eval_answers(
    corpus: Annotated[Path, typer.Option("--corpus", help="Corpus JSONL (id, title, text).")],
    questions: Annotated[
        Path, typer.Option("--questions", help="Questions JSONL (question, answers, ...).")
    ],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Settings file with a pipeline table (TOML or YAML)."),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="First N questions.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Score the whole pipeline: EM/F1, recall per stage, citations, abstention, cost."""
    console = Console(stderr=json_out)
    try:
        if not corpus.is_file():
            raise InputError(f"corpus file not found: {corpus}")
        qas = load_qa(questions, limit)
        result = asyncio.run(evaluate(load_settings(config), corpus, qas, console))
    except RankgraphError as exc:
        Console(stderr=True).print(f"error: {exc}", markup=False)
        raise typer.Exit(1) from exc
    if json_out:
        sys.stdout.write(json.dumps(result.model_dump(), indent=2) + "\n")
    else:
        render(result, console)
