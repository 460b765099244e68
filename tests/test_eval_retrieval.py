"""Retrieval evaluation: recall bookkeeping, index reuse, and the command's JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from rankgraph.errors import InputError
from rankgraph.eval.candidates import eval_candidates
from rankgraph.eval.rerank import read_qrels
from rankgraph.eval.retrieval import (
    distinct_docs,
    eval_collection_name,
    eval_retrieval,
    evaluate,
    file_digest,
    percentile,
    recall_at,
)
from rankgraph.rerank.candidates import load_candidates
from tests.retrieval_fixtures import make_settings, questions_for, write_corpus_slice


def test_recall_counts_distinct_documents_not_chunks() -> None:
    docs = distinct_docs(["a", "a", "b", "c", "b", "d"])
    assert docs == ["a", "b", "c", "d"]
    assert recall_at(docs, ["c"], 3) and not recall_at(docs, ["d"], 3)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile([7.0], 95) == 7.0


def test_the_eval_collection_follows_the_corpus_content(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_corpus_slice(a, 3)
    write_corpus_slice(b, 3)
    assert eval_collection_name(file_digest(a), settings) == eval_collection_name(
        file_digest(b), settings
    )
    write_corpus_slice(b, 4)
    assert eval_collection_name(file_digest(a), settings) != eval_collection_name(
        file_digest(b), settings
    )


def _fixture_files(tmp_path: Path) -> tuple[Path, Path]:
    corpus, questions = tmp_path / "corpus.jsonl", tmp_path / "questions.jsonl"
    docs = write_corpus_slice(corpus, 40)
    chosen = questions_for({d["id"] for d in docs})
    questions.write_text("".join(json.dumps(q) + "\n" for q in chosen))
    return corpus, questions


def test_a_second_eval_of_the_same_corpus_reuses_its_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, questions = _fixture_files(tmp_path)
    settings = make_settings(tmp_path)
    first = evaluate(settings, corpus, questions, ks=(1, 5), raw_sample=8)
    assert not first.indexing.reused and first.indexing.documents == 40
    assert [m.mode for m in first.modes] == ["dense", "bm25", "hybrid"]
    assert all(0.0 <= m.recall[1] <= m.recall[5] <= 1.0 for m in first.modes)
    assert max(m.recall[5] for m in first.modes) > 0.3

    # The command, on the same data dir: the index is reused, the numbers are the same.
    monkeypatch.setenv("RANKGRAPH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    app = typer.Typer()
    app.command()(eval_retrieval)
    args = ["--corpus", str(corpus), "--questions", str(questions), "-k", "1", "-k", "5"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    second = json.loads(result.stdout)
    assert second["indexing"]["reused"] is True
    assert second["indexing"]["collection"] == first.indexing.collection
    assert [m["recall"] for m in second["modes"]] == [
        {str(k): v for k, v in m.recall.items()} for m in first.modes
    ]


def test_eval_rejects_a_missing_corpus_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="corpus file not found"):
        evaluate(make_settings(tmp_path), tmp_path / "nope.jsonl", tmp_path / "q.jsonl")


def test_a_qa_set_becomes_candidates_and_qrels_that_eval_rerank_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, questions = _fixture_files(tmp_path)
    monkeypatch.setenv("RANKGRAPH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "task"
    app = typer.Typer()
    app.command()(eval_candidates)
    args = ["--corpus", str(corpus), "--questions", str(questions), "--out", str(out), "-k", "8"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    asked = [json.loads(line) for line in questions.read_text().splitlines()]
    queries = load_candidates(out / "candidates.jsonl")
    assert [q.qid for q in queries] == [q["qid"] for q in asked]
    assert all(len(q.passages) == 8 and all(p.title for p in q.passages) for q in queries)
    # every candidate is judged: 2 for a passage of an answer document, else 0
    qrels = read_qrels(out / "qrels.txt")
    assert len(qrels) == 8 * len(queries)
    corpus_titles = {d["title"]: d["id"] for d in map(json.loads, corpus.read_text().splitlines())}
    gold = {q["qid"]: set(q["answer_doc_ids"]) for q in asked}
    title = {(q.qid, p.id): p.title for q in queries for p in q.passages}
    for qrel in qrels:
        in_gold = corpus_titles[title[qrel.query_id, qrel.doc_id]] in gold[qrel.query_id]
        assert qrel.relevance == (2 if in_gold else 0)
    found = sum(any(r.relevance for r in qrels if r.query_id == q.qid) for q in queries)
    assert f"{len(queries)} questions ({found} with an answer document" in result.stdout
    assert found >= len(queries) // 2  # hybrid retrieval finds most in a 40-document corpus


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"--split": "half"}, "--split must be dev, test or all, not 'half'"),
        ({"--corpus": "nope.jsonl"}, "corpus file not found: nope.jsonl"),
    ],
)
def test_eval_candidates_names_a_bad_split_or_corpus_before_indexing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, str], error: str
) -> None:
    corpus, questions = _fixture_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    options = {"--corpus": str(corpus), "--questions": str(questions), "--out": "task"}
    app = typer.Typer()
    app.command()(eval_candidates)
    result = CliRunner().invoke(app, [x for kv in (options | change).items() for x in kv])
    assert result.exit_code != 0 and error in result.output
    assert not (tmp_path / "task").exists()
