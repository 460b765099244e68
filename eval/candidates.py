"""A QA set as a reranking task: the first stage's passages and answer-document qrels.

    rankgraph eval candidates --corpus corpus.jsonl --questions questions.jsonl \\
        --split dev --out nq-dev
    rankgraph eval rerank --data nq-dev --method none,qlm,pointwise --depth 7

Why: `eval answers` says whether a reranker changed the answers, but each of its
runs pays for every answer too, and its differences are a few questions wide. This
writes what the pipeline's retrieve step hands the reranker (same index, same
hybrid search, same passages and titles), so `eval rerank` scores every method on
the same lists in one run, nDCG@1 included: the passage a small reader is shown
first is the one it answers from (docs/benchmarks.md, session 8).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from rankgraph.choices import RetrievalMode
from rankgraph.config import load_settings
from rankgraph.errors import InputError
from rankgraph.eval.answers import index_corpus, qa_task
from rankgraph.eval.qa_scoring import QA, doc_ids
from rankgraph.eval.rerank import CANDIDATES_FILE, QRELS_FILE
from rankgraph.retrieval import Retriever
from rankgraph.ui import exit_on_error


@dataclass(frozen=True)
class Written:
    queries: int
    with_answer_doc: int  # queries with an answer document's passage among the candidates
    folder: Path


def write_candidates(
    retriever: Retriever,
    qas: list[QA],
    folder: Path,
    *,
    k: int,
    mode: RetrievalMode | None = None,
) -> Written:
    """`candidates.jsonl` (the top-k passages per question, as retrieve finds them) and
    `qrels.txt` (a passage of an answer document is relevant, 2; every other one is
    judged 0), the two files `eval rerank --data` reads."""
    folder.mkdir(parents=True, exist_ok=True)
    found = 0
    with (
        (folder / CANDIDATES_FILE).open("w", encoding="utf-8") as lines,
        (folder / QRELS_FILE).open("w", encoding="utf-8") as qrels,
    ):
        for qa in qas:
            passages = retriever.search(qa.question, k=k, mode=mode)
            candidates = [
                {"docid": p.id, "text": p.text, "title": p.title, "score": p.score}
                for p in passages
            ]
            lines.write(json.dumps({"qid": qa.qid, "query": qa.question, "candidates": candidates}))
            lines.write("\n")
            relevant = [doc in qa.answer_doc_ids for doc in doc_ids(passages)]
            for p, rel in zip(passages, relevant, strict=True):
                qrels.write(f"{qa.qid} 0 {p.id} {2 if rel else 0}\n")
            found += any(relevant)
    return Written(queries=len(qas), with_answer_doc=found, folder=folder)


def eval_candidates(
    corpus: Annotated[Path, typer.Option("--corpus", help="Corpus JSONL (id, title, text).")],
    questions: Annotated[
        Path, typer.Option("--questions", help="Questions JSONL (question, answer_doc_ids).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for candidates.jsonl + qrels.txt.")],
    split: Annotated[
        str, typer.Option("--split", help="dev (first half of the file), test (second) or all.")
    ] = "all",
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="First N questions.")] = None,
    k: Annotated[
        int | None,
        typer.Option("-k", "--k", min=1, max=1000, help="Candidates per question [retrieve.k]."),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="rankgraph.toml / .yaml")] = None,
) -> None:
    """Write a QA set's first-stage passages and answer-document qrels for `eval rerank`."""
    with exit_on_error():
        qas = [qa for qa in qa_task(corpus, questions, split, limit) if qa.answer_doc_ids]
        if not qas:
            raise InputError(f"no question in {questions} names an answer document")
        settings = load_settings(config)
        retriever = Retriever.from_settings(settings, index_corpus(settings, corpus))
        retrieve = settings.pipeline.retrieve
        written = write_candidates(retriever, qas, out, k=k or retrieve.k, mode=retrieve.mode)
    typer.echo(
        f"{written.queries} questions ({written.with_answer_doc} with an answer document "
        f"among the candidates) in {written.folder}; compare rerankers with "
        f"`rankgraph eval rerank --data {written.folder} --method none,qlm,pointwise --depth 7`"
    )
