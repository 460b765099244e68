"""`qlm` and `combined` on the scripted model of test_rerank_methods: which calls
they make, how signals combine, and their option checks."""

from __future__ import annotations

import pytest

from rankgraph.errors import ConfigError
from rankgraph.rerank import build
from rankgraph.rerank.combined import LARGEST_FITTED, combine, fitted_weights
from tests.test_rerank_methods import FakeLLM, passages_with


def test_combine_sums_weighted_per_query_zscores() -> None:
    rows = [{"a": 1.0, "b": 10.0}, {"a": 3.0, "b": 10.0}]
    assert combine(rows, {"a": 2.0, "b": 5.0}) == [-2.0, 2.0]  # b does not vary: no vote


async def test_combined_calls_only_the_signals_that_carry_weight() -> None:
    client = FakeLLM()
    passages = passages_with([0, 3, 1, 2])
    result = await build("combined", client, weights={"yesno": 1.0, "first_stage": 0.0}).rerank(
        "fleas", passages
    )
    assert len(client.calls) == len(passages)
    assert all("Yes or No" in m[-1]["content"] for m in client.calls)
    assert result.order == [1, 3, 2, 0]
    assert result.relevance is not None and set(result.relevance) == {p.id for p in passages}


async def test_combined_with_every_signal_makes_three_calls_per_passage() -> None:
    client = FakeLLM()
    weights = {"yesno": 1.0, "graded": 1.0, "qlm": 1.0, "first_stage": 0.2}
    result = await build("combined", client, weights=weights).rerank("q", passages_with([0, 2, 3]))
    assert len(client.calls) == 9
    assert result.order[0] == 2


async def test_combined_leaves_the_first_stage_out_when_documents_carry_no_scores() -> None:
    unscored = [p.model_copy(update={"score": None}) for p in passages_with([0, 3])]
    weights = {"yesno": 0.2, "first_stage": 0.8}
    result = await build("combined", FakeLLM(), weights=weights).rerank("q", unscored)
    assert result.order == [1, 0]  # the listed order is no ranking to lean on


async def test_a_failed_signal_leaves_its_passage_in_its_slot() -> None:
    client = FakeLLM(fail=lambda i: i == 0)
    result = await build("combined", client, weights={"yesno": 1.0}).rerank(
        "q", passages_with([0, 1, 3])
    )
    assert result.failures == 1
    assert result.order == [0, 2, 1]


async def test_qlm_scores_the_query_as_the_reply_and_ranks_likelier_queries_first() -> None:
    client = FakeLLM()
    result = await build("qlm", client, fusion="none").rerank("how long", passages_with([1, 3, 0]))
    assert result.order == [1, 0, 2]
    event = next(e for e in result.events if e.kind == "llm")
    assert event.data["query_tokens"] == 2


@pytest.mark.parametrize(
    "weights", [{"bm25": 1.0}, {"yesno": -1.0}, {"yesno": 0.0, "qlm": 0.0}], ids=str
)
def test_combined_rejects_unknown_negative_or_all_zero_weights(weights: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="combined option weights"):
        build("combined", FakeLLM(), weights=weights)


def test_the_default_method_is_registered_and_used_when_rerank_names_none() -> None:
    from typer.testing import CliRunner

    from rankgraph.cli import app
    from rankgraph.rerank import DEFAULT_METHOD, METHODS

    assert DEFAULT_METHOD == "combined" and DEFAULT_METHOD in METHODS
    result = CliRunner().invoke(app, ["rerank", "--help"], env={"COLUMNS": "200"})
    assert "Default: combined, or pointwise on an engine without prompt logprobs" in " ".join(
        result.stdout.replace("│", " ").split()
    )


async def test_unset_weights_are_the_ones_fitted_for_the_served_model() -> None:
    passages = passages_with([0, 3, 1, 2, 2, 0])
    for served, fitted in [("qwen2.5-0.5b", "qwen2.5-0.5b"), ("a-7b-model", LARGEST_FITTED)]:
        unset = await build("combined", FakeLLM(served=served)).rerank("q", passages)
        named = await build("combined", FakeLLM(), weights=fitted_weights(fitted)).rerank(
            "q", passages
        )
        assert unset.relevance == named.relevance
    assert fitted_weights("qwen2.5-0.5b") != fitted_weights(LARGEST_FITTED)
