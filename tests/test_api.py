"""`rankgraph.rerank` / `rankgraph.arerank`: the one-call reranking API."""

from __future__ import annotations

import pytest

import rankgraph
from rankgraph.api import as_passages
from rankgraph.config import Settings
from rankgraph.engine.state import EngineState
from rankgraph.errors import ConfigError

DOCS = ["The Eiffel Tower is in Paris.", "Bananas are yellow.", "Paris is the capital of France."]
QUERY = "Where is the Eiffel Tower?"


def test_public_api_is_exactly_the_curated_names() -> None:
    for name in rankgraph.__all__:
        assert getattr(rankgraph, name) is not None
    assert {"rerank", "arerank", "Passage", "RerankResult", "__version__"} <= set(rankgraph.__all__)


def test_rankgraph_rerank_is_callable_and_still_the_rerank_package() -> None:
    from rankgraph import rerank

    assert callable(rankgraph.rerank)
    assert "pointwise" in rerank.METHODS


def test_plain_strings_become_passages_numbered_by_position_and_passages_are_kept() -> None:
    mine = rankgraph.Passage(id="doc-7", text="kept")
    passages = as_passages(["a", mine, "c"])
    assert [(p.id, p.text) for p in passages] == [("0", "a"), ("doc-7", "kept"), ("2", "c")]
    assert passages[1] is mine


def test_an_unknown_method_or_option_is_a_config_error_naming_the_valid_ones() -> None:
    settings = Settings(llm={"base_urls": ["http://127.0.0.1:9/v1"]})
    with pytest.raises(ConfigError, match="choose one of none, embedding, pointwise"):
        rankgraph.rerank(QUERY, DOCS, method="nope", settings=settings)
    with pytest.raises(ConfigError, match="unknown option"):
        rankgraph.rerank(QUERY, DOCS, settings=settings, window=3)


@pytest.mark.engine
def test_rerank_plain_strings_on_the_engine_returns_a_permutation_of_them(
    engine: EngineState, engine_settings: Settings
) -> None:
    result = rankgraph.rerank(QUERY, DOCS, method="pointwise", settings=engine_settings)
    assert isinstance(result, rankgraph.RerankResult)
    assert sorted(result.order) == [0, 1, 2]
    assert [p.text for p in result.passages] == [DOCS[i] for i in result.order]
    assert result.failures == 0 and result.usage.calls == len(DOCS)


@pytest.mark.engine
async def test_arerank_takes_passages_and_top_k_on_the_engine(
    engine: EngineState, engine_settings: Settings
) -> None:
    passages = [rankgraph.Passage(id=f"d{i}", text=t) for i, t in enumerate(DOCS)]
    result = await rankgraph.arerank(QUERY, passages, settings=engine_settings, top_k=2)
    assert sorted(p.id for p in result.passages) == ["d0", "d1", "d2"]
    assert result.failures == 0


async def test_sync_rerank_also_works_inside_a_running_event_loop() -> None:
    settings = Settings(llm={"base_urls": ["http://127.0.0.1:9/v1"]})
    with pytest.raises(ConfigError):  # reached the method lookup on a worker thread's loop
        rankgraph.rerank(QUERY, DOCS, method="nope", settings=settings)
