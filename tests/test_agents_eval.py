"""`eval answers` scoring and plumbing: SQuAD normalisation, EM/F1, stage recall,
citations, abstention both ways, splits, variants and the unanswerable wrapper."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from rankgraph import rerank
from rankgraph.agents import Answer, Citation
from rankgraph.config import load_settings
from rankgraph.errors import ConfigError, InputError
from rankgraph.eval.answers import load_qa, render, score_answer, with_paired
from rankgraph.eval.qa_scoring import (
    QA,
    Stages,
    contains_answer,
    exact_match,
    summarize,
    token_f1,
)
from rankgraph.eval.unanswerable import Excluding
from rankgraph.eval.variants import variants
from rankgraph.schema import Passage
from rankgraph.trace import TraceEvent, Usage
from tests.agents_fixtures import KeywordRetriever


def test_exact_match_ignores_case_punctuation_articles_and_citations() -> None:
    assert exact_match("The Beatles [1].", ["beatles"]) == 1.0
    assert exact_match("Beatles and Stones", ["beatles"]) == 0.0


def test_token_f1_takes_the_best_alias() -> None:
    assert token_f1("Wilhelm Röntgen [2]", ["Wilhelm Conrad Röntgen", "Röntgen"]) == pytest.approx(
        0.8
    )
    assert token_f1("", ["x"]) == 0.0


def test_contains_matches_whole_tokens_only() -> None:
    assert contains_answer("He was an artist.", ["artist"])
    assert not contains_answer("He was an artist.", ["art"])


GOLD = Passage(id="c1", text="Paris is the capital of France.", metadata={"doc_id": "paris"})
OTHER = Passage(id="c2", text="Lyon is a city.", metadata={"doc_id": "lyon"})
QUESTION = QA(qid="q", question="capital of France?", answers=["Paris"], answer_doc_ids=["paris"])


def _answered() -> Answer:
    return Answer(
        question=QUESTION.question,
        answer="Paris [1].",
        citations=[Citation(n=1, passage_id="c1"), Citation(n=2, passage_id="c2")],
        passages=[GOLD, OTHER],
        usage={
            "generate": Usage(calls=1, prompt_tokens=5),
            "total": Usage(calls=1, prompt_tokens=5),
        },
    )


def test_summary_reads_recall_per_stage_citations_and_abstention_both_ways() -> None:
    declined = Answer(question=QUESTION.question, answer="I don't know", abstained=True)
    rows = [
        score_answer(
            "v",
            QUESTION,
            True,
            _answered(),
            Stages(retrieved=["lyon", "paris"], reranked=["paris"], kept=["paris"]),
        ),
        score_answer("v", QUESTION, True, declined, Stages(retrieved=["lyon"], reranked=["lyon"])),
        score_answer("v", QUESTION, False, declined, Stages(retrieved=["lyon"])),
        score_answer("v", QUESTION, False, _answered(), Stages(retrieved=["lyon"])),
    ]
    uncited = Answer(
        question=QUESTION.question,
        answer="I don't know",
        abstained=True,
        trace=[TraceEvent(node="generate", method="cited", reply="It is Paris, the capital.")],
    )
    checked = score_answer("v", QUESTION, True, uncited, Stages(retrieved=["lyon"]))
    assert checked.draft == "It is Paris, the capital." and checked.draft_contains == 1.0
    assert summarize("v", [checked, *rows[1:2]], 1, 1.0).abstain_right_draft == 0.5
    summary = summarize("v", rows, top_k=1, wall_s=2.0)
    assert summary.abstain_right_draft == 0.0 and rows[0].draft is None
    assert summary.answerable == 2 and summary.unanswerable == 2
    assert summary.contains == 0.5 and summary.exact_match == 0.5
    assert summary.abstain_answerable == 0.5 and summary.abstain_unanswerable == 0.5
    # the answered question read the gold passage; the declined one read nothing
    assert summary.answer_in_passages == 0.5
    assert summary.abstain_held == 0.0 and summary.abstain_missing == 1.0
    assert summary.recall == {"retrieve@k": 0.5, "retrieve@1": 0.0, "rerank@1": 0.5, "kept": 0.5}
    assert summary.citation_precision == 0.5 and summary.citation_recall == 1.0
    assert summary.calls_per_question == 0.5


def test_variants_with_different_top_k_share_one_table() -> None:
    rows = [score_answer("v", QUESTION, True, _answered(), Stages(retrieved=["paris"]))]
    top5 = summarize("top5", rows, top_k=5, wall_s=1.0)
    top3 = summarize("top3", rows, top_k=3, wall_s=1.0)
    # the first passage, which a small reader answers from, and all it reads
    assert list(top5.recall) == [
        "retrieve@k",
        "retrieve@1",
        "retrieve@5",
        "rerank@1",
        "rerank@5",
        "kept",
    ]
    assert top5.recall["retrieve@1"] == 1.0 and top5.recall["rerank@1"] == 0.0
    console = Console(record=True, width=200)
    render([top5, top3], console)
    lines = console.export_text().splitlines()
    assert any("retrieve@5" in line and "—" in line for line in lines)
    assert any("retrieve@3" in line and "—" in line for line in lines)


def test_each_variant_is_compared_with_the_first_on_the_same_questions() -> None:
    declined = Answer(question=QUESTION.question, answer="I don't know", abstained=True)
    questions = [QUESTION.model_copy(update={"qid": f"q{i}"}) for i in range(3)]
    plain = [score_answer("plain", qa, True, declined, Stages()) for qa in questions]
    graph = [score_answer("graph", qa, True, _answered(), Stages()) for qa in questions[:2]]
    graph.append(score_answer("graph", questions[2], True, declined, Stages()))
    summaries = [summarize("plain", plain, 5, 1.0), summarize("graph", graph, 5, 1.0)]
    first, second = with_paired(summaries, plain + graph)
    assert first.paired is None
    assert second.paired is not None and second.paired.against == "plain"
    assert (second.paired.better, second.paired.worse) == (2, 0)
    assert 0.0 < second.paired.p_contains <= 1.0


def test_a_failed_question_is_counted_as_a_failure_not_as_an_answer() -> None:
    ok = score_answer("v", QUESTION, True, _answered(), Stages())
    failed = ok.model_copy(update={"error": "LLMUnavailable: down", "contains": 0.0})
    summary = summarize("v", [ok, failed], top_k=5, wall_s=1.0)
    assert summary.failures == 1 and summary.answerable == 1 and summary.contains == 1.0


def test_splits_are_the_two_halves_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        "".join(f'{{"qid": "{i}", "question": "q{i}?", "answers": ["a"]}}\n' for i in range(5))
    )
    assert [q.qid for q in load_qa(path, "dev")] == ["0", "1", "2"]
    assert [q.qid for q in load_qa(path, "test")] == ["3", "4"]
    assert [q.qid for q in load_qa(path, "test", limit=1)] == ["3"]


def test_a_follow_up_record_carries_its_conversation_and_a_bad_turn_names_its_line(
    tmp_path: Path,
) -> None:
    turns = '[{"role": "user", "content": "who?"}, {"role": "assistant", "content": "Ada."}]'
    path = tmp_path / "q.jsonl"
    path.write_text(
        f'{{"qid": "f", "question": "born when?", "answers": ["1815"], "history": {turns}}}\n'
    )
    (follow_up,) = load_qa(path)
    assert [(t.role, t.content) for t in follow_up.history] == [
        ("user", "who?"),
        ("assistant", "Ada."),
    ]
    path.write_text(
        '\n{"qid": "f", "question": "q?", "answers": ["a"], '
        '"history": [{"role": "system", "content": "x"}]}\n'
    )
    with pytest.raises(InputError, match=r"(?s)q.jsonl:2: not a question record.*history.0.role"):
        load_qa(path)


def test_plain_variant_turns_every_agent_off_and_unknown_names_are_rejected() -> None:
    base = load_settings()
    plain, default = variants(base, ["plain", "default"], [])
    off = plain.settings.pipeline
    assert (off.rewrite.mode, off.rerank.method, off.filter.mode) == ("off", "none", "off")
    assert off.loop.max_rounds == 1
    # layered section by section: what the variant does not name stays as in the base
    assert off.rerank.top_k == base.pipeline.rerank.top_k
    assert off.generate == base.pipeline.generate
    assert default.settings.pipeline == base.pipeline
    with pytest.raises(ConfigError, match="unknown variant 'fancy'"):
        variants(base, ["fancy"], [])


def test_plain_variant_drops_the_options_of_the_base_configs_reranker() -> None:
    # a base that tunes its judge: the options belong to pointwise, not to "none"
    tuned = {"rerank": {"method": "pointwise", "options": {"judge": "answers"}}}
    base = load_settings()
    base = base.with_pipeline(base.pipeline.merged(tuned))
    plain, default = variants(base, ["plain", "default"], [])
    assert (plain.settings.pipeline.rerank.method, plain.settings.pipeline.rerank.options) == (
        "none",
        {},
    )
    assert default.settings.pipeline.rerank.options == {"judge": "answers"}
    rerank.build("none", None, **plain.settings.pipeline.rerank.options)  # raised ConfigError
    same = base.pipeline.merged({"rerank": {"method": "pointwise", "top_k": 3}})
    assert same.rerank.options == {"judge": "answers"}  # the same method keeps its options


async def test_excluding_retriever_never_returns_the_answer_documents() -> None:
    corpus = [
        Passage(id="p1", text="Paris capital France", metadata={"doc_id": "paris"}),
        Passage(id="p2", text="France capital list", metadata={"doc_id": "capitals"}),
        Passage(id="p3", text="Lyon France city", metadata={"doc_id": "lyon"}),
    ]
    hidden = Excluding(KeywordRetriever(corpus), frozenset({"paris"}))
    found = await hidden.asearch_many(["capital of France"], k=2)
    assert [p.metadata["doc_id"] for p in found] == ["capitals", "lyon"]


def test_plot_writes_quality_against_calls_as_png_and_svg(tmp_path: Path) -> None:
    from rankgraph.eval.plot import quality_vs_calls

    rows = [score_answer("plain", QUESTION, True, _answered(), Stages())]
    summaries = [summarize("plain", rows, top_k=5, wall_s=1.0)]
    written = quality_vs_calls(summaries, tmp_path / "quality-0.5b")
    assert [p.name for p in written] == ["quality-0.5b.png", "quality-0.5b.svg"]
    assert all(p.stat().st_size > 1000 for p in written)
    assert written[0].read_bytes().startswith(b"\x89PNG")
