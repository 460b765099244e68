"""Citation checking: unsupported citations go, clearly supported ones are added."""

from __future__ import annotations

from rankgraph.agents.attribution import CheckedStream, attribute, support
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


def test_a_citation_after_the_end_mark_belongs_to_the_sentence_before_it() -> None:
    # the 1.5B preset writes "… microfilaments. [1]": once the [1] was read as a
    # sentence of its own, the answer lost its only citation and became an abstention
    result = attribute("The engine runs vLLM on the CPU. [2]", KEPT)
    assert result.text == "The engine runs vLLM on the CPU [2]."
    assert result.repairs == ()
    two = attribute("The engine runs vLLM. [2] The filter keeps passages. [1]", KEPT)
    assert two.text == "The engine runs vLLM [2]. The filter keeps passages [1]."


def test_a_streamed_trailing_citation_waits_for_its_closing_bracket() -> None:
    stream = CheckedStream(KEPT, min_support=0.6, hold_until_cited=True)
    pieces = ("The engine runs vLLM. [", "2] The filter", " keeps.")
    shown = [stream.feed(piece) for piece in pieces]
    assert shown == ["", "The engine runs vLLM [2].", ""]
    stream.close()
    assert stream.text.startswith("The engine runs vLLM [2]. The filter keeps")


def test_a_citation_cut_off_by_the_token_limit_is_dropped() -> None:
    assert attribute("The engine runs vLLM on the CPU. [2", KEPT).text == (
        "The engine runs vLLM on the CPU [2]."
    )
