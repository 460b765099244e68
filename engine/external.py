"""kind=external: OpenAI-compatible servers someone else runs.

Nothing is started; `start` checks that every URL answers and serves the model,
then records them so the client can spread requests over them.
"""

from __future__ import annotations

from rankgraph.config import Settings
from rankgraph.engine.process import served_models
from rankgraph.engine.state import EngineState
from rankgraph.errors import EngineError


class ExternalLauncher:
    """Records `engine.base_urls`; install and stop have nothing to do."""

    kind = "external"

    def install(self, settings: Settings) -> None:
        return None

    def start(self, settings: Settings) -> EngineState:
        urls = [url.rstrip("/") for url in settings.engine.base_urls]
        if not urls:
            raise EngineError(
                "kind=external needs engine.base_urls, e.g. "
                "RANKGRAPH_ENGINE__BASE_URLS='[\"http://gpu-box:8000/v1\"]'"
            )
        listed = {url: served_models(url) for url in urls}
        silent = [url for url, models in listed.items() if models is None]
        if silent:
            raise EngineError(
                f"no answer from {', '.join(silent)} (GET /models): start those servers "
                "or fix engine.base_urls (they end in /v1)"
            )
        model = settings.engine.model or next(iter(listed[urls[0]] or []), None)
        if model is None:
            raise EngineError(f"{urls[0]} serves no model: set engine.model")
        lacking = [url for url, models in listed.items() if model not in (models or [])]
        if lacking:
            raise EngineError(
                f"model {model!r} is not served by {', '.join(lacking)}: "
                "set engine.model to a model every server lists"
            )
        return EngineState(kind=self.kind, model=model, base_url=urls[0], base_urls=urls)
