"""Who may call: bearer API keys, and the rule that a server without keys listens on
loopback only (an open pipeline on a network would spend anyone's LLM budget)."""

from __future__ import annotations

import hmac
import ipaddress

from starlette.requests import Request

from rankgraph.errors import ConfigError
from rankgraph.serve.errors import unauthorized

KEY_COOKIE = "rankgraph_key"


def is_loopback(host: str) -> bool:
    """
    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_keys: list[str]) -> None:
    """Refuse a non-loopback bind when no key is configured."""
    if not api_keys and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host} without API keys: anyone on the network could "
            "run the pipeline. Set server.api_keys (or RANKGRAPH_SERVER__API_KEYS='[\"…\"]') "
            "or listen on 127.0.0.1"
        )


def presented_key(request: Request) -> str | None:
    """The bearer token, or the cookie the chat page sets so trace links open in a browser."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(KEY_COOKIE)


def authorize(request: Request, api_keys: list[str]) -> None:
    """Raise a 401 ApiError unless no keys are configured or a configured key was sent."""
    if not api_keys:
        return
    key = presented_key(request)
    if key is None:
        raise unauthorized("missing API key: send `Authorization: Bearer <key>`")
    if not any(hmac.compare_digest(key.encode(), k.encode()) for k in api_keys):
        raise unauthorized("invalid API key")
