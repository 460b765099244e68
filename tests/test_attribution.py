"""Citation checking: unsupported citations go, clearly supported ones are added."""

from __future__ import annotations

from rankgraph.agents.attribution import attribute, support
from rankgraph.schema import Passage

KEPT = [
    Passage(
        id="filter",
        title="Filter",
        text="The filter keeps passages whose judge score "
        "exceeds an adaptive threshold: the mean minus n standard deviations.",
    ),
    Passage(id="engine", title="Engine", text="The embedded engine runs vLLM on the CPU."),
]


def test_an_uncited_but_supported_sentence_gets_the_supporting_passage() -> None:
    result = attribute("The filter keeps passages above an adaptive threshold.", KEPT)
    assert result.text == "The filter keeps passages above an adaptive threshold [1]."
    assert result.repairs == ("attributed sentence 1 to [1] (support 1.00)",)


def test_a_citation_the_passage_does_not_support_is_removed_and_not_reassigned() -> None:
    result = attribute("The capital of Peru is Lima [2].", KEPT)
    assert result.text == "The capital of Peru is Lima."
    assert "removed unsupported citation(s) [2] from sentence 1" in result.repairs


def test_supported_citations_are_kept_untouched() -> None:
    text = "The engine runs vLLM on the CPU [2]. The filter uses an adaptive threshold [1]."
    result = attribute(text, KEPT)
    assert result.text == text
    assert result.repairs == ()


def test_support_ignores_stopwords_and_citation_markers() -> None:
    assert support("It is the engine [2].", KEPT[1]) == 1.0
    assert support("The [1].", KEPT[0]) == 0.0
