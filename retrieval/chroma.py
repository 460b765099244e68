"""The Chroma client a store talks to: a server when `retrieval.chroma_url` is set
(how a deployment outgrows one machine), else an embedded store in the data dir."""

from __future__ import annotations

import threading
from urllib.parse import urlparse

import chromadb
from chromadb.api import ClientAPI
from chromadb.config import Settings as ChromaSettings

from rankgraph.config import Settings
from rankgraph.errors import ConfigError, RetrievalError

# chromadb caches one shared system per path in a class-level dict; two threads opening
# the same path for the first time race inside it ("RustBindingsAPI has no attribute
# 'bindings'"), so opening is serialised. Only the open: queries run concurrently.
_CHROMA_OPEN = threading.Lock()


def chroma_client(settings: Settings) -> ClientAPI:
    """A Chroma server client when `retrieval.chroma_url` is set, else an embedded store."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    url = settings.retrieval.chroma_url
    if url:
        parsed = urlparse(url if "://" in url else f"http://{url}")
        if not parsed.hostname:
            raise ConfigError(f"retrieval.chroma_url is not a URL: {url!r}")
        ssl = parsed.scheme == "https"
        try:
            return chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if ssl else 8000),
                ssl=ssl,
                settings=chroma_settings,
            )
        except Exception as exc:  # chromadb raises plain exceptions on connect
            raise RetrievalError(
                f"cannot reach the Chroma server at {url} ({exc}): start it or unset "
                "retrieval.chroma_url to use the embedded store"
            ) from exc
    path = settings.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    with _CHROMA_OPEN:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
