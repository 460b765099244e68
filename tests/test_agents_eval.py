"""`eval answers` scoring: SQuAD normalisation, EM/F1, stage recall, citations."""

from __future__ import annotations

import pytest

from rankgraph.agents import Answer, Citation, PipelineConfig
from rankgraph.eval.answers import QA, _Stages, contains_answer, exact_match, score, token_f1
from rankgraph.schema import Passage
from rankgraph.trace import Usage


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


def test_score_reads_recall_per_stage_citation_precision_and_abstention() -> None:
    gold = Passage(id="c1", text="Paris is the capital of France.", metadata={"doc_id": "paris"})
    other = Passage(id="c2", text="Lyon is a city.", metadata={"doc_id": "lyon"})
    qa = QA(qid="q", question="capital of France?", answers=["Paris"], answer_doc_ids=["paris"])
    answered = Answer(
        question=qa.question,
        answer="Paris [1].",
        citations=[Citation(n=1, passage_id="c1"), Citation(n=2, passage_id="c2")],
        passages=[gold, other],
        usage={
            "generate": Usage(calls=1, prompt_tokens=5),
            "total": Usage(calls=1, prompt_tokens=5),
        },
    )
    declined = Answer(question=qa.question, answer="I don't know", abstained=True)
    rows = [
        (qa, answered, _Stages(retrieved=[other, gold], reranked=[gold], kept=[gold])),
        (qa, declined, _Stages(retrieved=[other], reranked=[other], kept=[])),
    ]
    config = PipelineConfig.parse({"retrieve": {"k": 10}, "rerank": {"top_k": 1}})
    result = score(rows, failures=0, config=config, corpus="c", collection="x")
    assert result.exact_match == 0.5 and result.abstention_rate == 0.5
    assert result.recall == {
        "retrieve@10": 0.5,
        "retrieve@1": 0.0,
        "rerank@1": 0.5,
        "filter(kept)": 0.5,
    }
    assert result.citation_precision == 0.5 and result.cited_questions == 1
    assert result.cost["generate"].calls == 1
