"""Retrieval evaluation: answer recall@k per mode, indexing throughput, query latency.

On a corpus JSONL (`{"id", "title", "text", ...}`) and questions JSONL
(`{"qid", "question", "answer_doc_ids": [...]}`, the wiki-nq shape), a question is a
hit at k when any of its answer documents is among the top k distinct documents
retrieved (chunks map back to documents through their `doc_id` metadata).

The index is built once per corpus content: the collection name derives from the
file's SHA-256 (and the embedding/chunking settings), so a second run reuses it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.table import Table

from rankgraph.config import Settings, load_settings
from rankgraph.errors import InputError, first_problem
from rankgraph.retrieval import RETRIEVAL_MODES, RetrievalMode, Retriever, Store, index_paths
from rankgraph.retrieval.store import index_text
from rankgraph.ui import exit_on_error, safe_text

DEFAULT_KS = (5, 20, 100)
INDEX_SECONDS_KEY = "rankgraph_eval_index_seconds"
INDEX_DOCS_KEY = "rankgraph_eval_index_docs"


class Question(BaseModel):
    """One line of a questions file."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    qid: str
    question: str = Field(min_length=1)
    answer_doc_ids: list[str] = Field(min_length=1)


class ModeResult(BaseModel):
    mode: RetrievalMode
    recall: dict[int, float]
    latency_ms_p50: float
    latency_ms_p95: float


class IndexingResult(BaseModel):
    collection: str
    reused: bool
    documents: int
    chunks: int
    seconds: float
    docs_per_s: float
    raw_encode_docs: int
    raw_encode_docs_per_s: float
    ratio_to_raw_encode: float = Field(description="indexing docs/s ÷ raw encode docs/s")


class RetrievalEval(BaseModel):
    corpus: str
    questions: int
    ks: list[int]
    depth: int
    indexing: IndexingResult
    modes: list[ModeResult]


def load_questions(path: Path, limit: int | None = None) -> list[Question]:
    """The first `limit` questions of a JSONL file; InputError names the bad line."""
    out: list[Question] = []
    with path.open("rb") as fh:
        for line_no, line in enumerate(fh, 1):
            if limit is not None and len(out) >= limit:
                break
            if not line.strip():
                continue
            try:
                out.append(Question.model_validate_json(line.decode("utf-8")))
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}:{line_no}: not UTF-8 (byte {exc.start})") from exc
            except ValidationError as exc:
                where, what = first_problem(exc)
                raise InputError(
                    f"{path}:{line_no}: {where or 'line'}: {what} (expected "
                    '{"qid": str, "question": str, "answer_doc_ids": [str, ...]})'
                ) from exc
    if not out:
        raise InputError(f"no questions in {path}")
    return out


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def eval_collection_name(corpus_digest: str, settings: Settings) -> str:
    """`eval-<corpus hash>-<settings hash>`: same corpus and chunking, same index."""
    r = settings.retrieval
    config = f"{r.embedding_model}|{r.chunk_tokens}|{r.chunk_overlap}"
    return f"eval-{corpus_digest[:16]}-{hashlib.sha256(config.encode()).hexdigest()[:8]}"


def recall_at(ranked_docs: Sequence[str], answers: Sequence[str], k: int) -> bool:
    """Is any answer document among the first k distinct documents?

    >>> recall_at(["a", "b", "c"], ["c"], 2), recall_at(["a", "b", "c"], ["c"], 3)
    (False, True)
    """
    return not set(ranked_docs[:k]).isdisjoint(answers)


def distinct_docs(doc_ids: Sequence[str]) -> list[str]:
    """Document ids in first-seen order (several chunks of one document count once)."""
    return list(dict.fromkeys(doc_ids))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; q in (0, 100]."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def evaluate(
    settings: Settings,
    corpus: Path,
    questions_path: Path,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    limit: int | None = None,
    modes: Sequence[RetrievalMode] = RETRIEVAL_MODES,
    raw_sample: int = 256,
    progress: bool = False,
) -> RetrievalEval:
    """Index `corpus` (or reuse its index), then score every mode on the questions."""
    if not corpus.is_file():
        raise InputError(f"corpus file not found: {corpus}")
    if not questions_path.is_file():
        raise InputError(f"questions file not found: {questions_path}")
    if not ks or min(ks) < 1:
        raise InputError(f"k values must be >= 1, got {list(ks)}")
    questions = load_questions(questions_path, limit)
    name = eval_collection_name(file_digest(corpus), settings)
    store = Store.from_settings(settings, name)
    indexing = _index(store, settings, corpus, raw_sample, progress)
    retriever = Retriever(store, settings.retrieval)
    depth = 2 * max(ks)  # chunks fetched, so that >= max(ks) distinct documents remain
    results = [_score_mode(retriever, questions, mode, ks, depth) for mode in modes]
    return RetrievalEval(
        corpus=str(corpus),
        questions=len(questions),
        ks=sorted(ks),
        depth=depth,
        indexing=indexing,
        modes=results,
    )


def _index(
    store: Store, settings: Settings, corpus: Path, raw_sample: int, progress: bool
) -> IndexingResult:
    report = index_paths(
        store,
        [corpus],
        chunk_tokens=settings.retrieval.chunk_tokens,
        chunk_overlap=settings.retrieval.chunk_overlap,
        write_batch=settings.retrieval.write_batch,
        progress=progress,
    )
    built = report.chunks_added > 0
    if built:
        store.set_metadata(**{INDEX_SECONDS_KEY: report.seconds, INDEX_DOCS_KEY: report.documents})
    meta = store.metadata()
    seconds = float(meta.get(INDEX_SECONDS_KEY, report.seconds))
    documents = int(meta.get(INDEX_DOCS_KEY, report.documents))
    raw_docs, raw_dps = _raw_encode_rate(store, corpus, raw_sample)
    docs_per_s = documents / seconds if seconds else 0.0
    return IndexingResult(
        collection=store.name,
        reused=not built,
        documents=documents,
        chunks=report.total_chunks,
        seconds=seconds,
        docs_per_s=docs_per_s,
        raw_encode_docs=raw_docs,
        raw_encode_docs_per_s=raw_dps,
        ratio_to_raw_encode=docs_per_s / raw_dps if raw_dps else 0.0,
    )


def _raw_encode_rate(store: Store, corpus: Path, sample: int) -> tuple[int, float]:
    """Docs/s of a bare `SentenceTransformer.encode` of the first `sample` documents'
    title + text: the floor that indexing overhead (chunking, Chroma, BM25) adds to."""
    texts: list[str] = []
    with corpus.open(encoding="utf-8", errors="replace") as fh:
        for line in itertools.islice(fh, sample):
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the indexer reported it; a speed sample can do without it
            if not isinstance(record, dict):
                continue
            texts.append(index_text(record.get("title"), str(record.get("text", ""))))
    if not texts:
        return 0, 0.0
    model = store.embedder.model
    model.encode(texts[:8], show_progress_bar=False)  # warm-up
    started = time.perf_counter()
    model.encode(texts, batch_size=store.embedder.batch_size, show_progress_bar=False)
    return len(texts), len(texts) / (time.perf_counter() - started)


def _score_mode(
    retriever: Retriever,
    questions: Sequence[Question],
    mode: RetrievalMode,
    ks: Sequence[int],
    depth: int,
) -> ModeResult:
    hits = dict.fromkeys(ks, 0)
    latencies: list[float] = []
    for q in questions:
        started = time.perf_counter()
        passages = retriever.search(q.question, k=depth, mode=mode)
        latencies.append((time.perf_counter() - started) * 1000)
        docs = distinct_docs([str(p.metadata.get("doc_id", p.id)) for p in passages])
        for k in ks:
            hits[k] += recall_at(docs, q.answer_doc_ids, k)
    return ModeResult(
        mode=mode,
        recall={k: hits[k] / len(questions) for k in ks},
        latency_ms_p50=statistics.median(latencies),
        latency_ms_p95=percentile(latencies, 95),
    )


def render(result: RetrievalEval, console: Console) -> None:
    ix = result.indexing
    table = Table(
        title=safe_text(f"answer recall on {result.questions} questions ({result.corpus})")
    )
    table.add_column("mode")
    for k in result.ks:
        table.add_column(f"R@{k}", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p95 ms", justify="right")
    for m in result.modes:
        table.add_row(
            m.mode,
            *(f"{m.recall[k]:.4f}" for k in result.ks),
            f"{m.latency_ms_p50:.1f}",
            f"{m.latency_ms_p95:.1f}",
        )
    console.print(table)
    how = "reused index built earlier" if ix.reused else "built in this run"
    console.print(
        safe_text(
            f"indexing ({how}, collection {ix.collection}): {ix.documents} docs → {ix.chunks} "
            f"chunks in {ix.seconds:.1f} s = {ix.docs_per_s:.1f} docs/s; raw encode of "
            f"{ix.raw_encode_docs} docs: {ix.raw_encode_docs_per_s:.1f} docs/s; "
            f"ratio {ix.ratio_to_raw_encode:.2f}"
        )
    )


def eval_retrieval(
    corpus: Annotated[Path, typer.Option(help="Corpus JSONL: id, title, text, ...")],
    questions: Annotated[Path, typer.Option(help="Questions JSONL: qid, question, answer_doc_ids")],
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N questions.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
    k: Annotated[
        list[int] | None,
        typer.Option("-k", "--k", min=1, max=10_000, help="Cut-offs (repeatable)."),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="rankgraph.toml / .yaml")] = None,
) -> None:
    """Answer recall@k of dense, BM25 and hybrid retrieval; indexing and query speed."""
    with exit_on_error():
        settings = load_settings(config)
        result = evaluate(
            settings,
            corpus,
            questions,
            ks=tuple(k) if k else DEFAULT_KS,
            limit=limit,
            progress=sys.stderr.isatty(),
        )
    if json_out:
        typer.echo(result.model_dump_json(indent=2))
    else:
        render(result, Console())
