"""Fail fast when no LLM endpoint answers, before a run starts its calls.

Why: the client retries each call with backoff (right for a busy server), so a
mistyped or dead URL used to cost minutes of retries per call before a run failed.
One short request per endpoint up front tells a dead URL from a slow server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import httpx

from rankgraph.errors import LLMUnavailable

if TYPE_CHECKING:
    from rankgraph.llm.client import LLMClient

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0


async def _probe(client: httpx.AsyncClient, url: str, api_key: str) -> str | None:
    """None when `url` answers at all (any HTTP status), else why not."""
    try:
        await client.get(
            f"{url.rstrip('/')}/models", headers={"Authorization": f"Bearer {api_key}"}
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return None


async def check_endpoints(
    urls: Sequence[str], *, api_key: str = "EMPTY", timeout_s: float = CONNECT_TIMEOUT_S
) -> None:
    """Raise LLMUnavailable naming each URL when none of `urls` answers within `timeout_s`.

    Some down and some up is logged as a warning: the client spreads requests over the
    ones that answer.
    """
    timeout = httpx.Timeout(timeout_s)
    async with httpx.AsyncClient(timeout=timeout) as client:
        errors = await asyncio.gather(*(_probe(client, url, api_key) for url in urls))
    down = {url: why for url, why in zip(urls, errors, strict=True) if why is not None}
    if down and len(down) == len(urls):
        detail = "; ".join(f"{url} ({why})" for url, why in down.items())
        raise LLMUnavailable(
            f"no LLM endpoint answers: {detail}. Start the engine with `rankgraph engine start` "
            "or point RANKGRAPH_LLM__BASE_URLS at a running server"
        )
    for url, why in down.items():
        log.warning("LLM endpoint %s does not answer (%s); using the others", url, why)


async def check_client(client: LLMClient) -> None:
    """check_endpoints over `client`'s endpoints, unless a replay-only cache answers every call."""
    if client.cache is not None and client.cache.mode == "replay":
        return
    await check_endpoints(client.base_urls, api_key=client.settings.api_key)
