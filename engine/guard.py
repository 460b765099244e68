"""How a vLLM server rankgraph starts is closed to other local users.

The key travels in VLLM_API_KEY (vLLM reads it; /proc/<pid>/environ is
owner-only, unlike argv). vLLM itself checks it only under /v1, /v2,
/inference and /cohere, so the server also loads `vllm_addons/rankgraph_key_guard.py`,
which asks for it on every path but /health.
"""

from __future__ import annotations

from pathlib import Path

ADDONS_DIR = Path(__file__).with_name("vllm_addons")
VLLM_KEY_ENV = "VLLM_API_KEY"


def vllm_guard_args() -> list[str]:
    """Server flags that load the key guard middleware."""
    return ["--middleware", "rankgraph_key_guard.RequireKey"]


def vllm_guard_env() -> dict[str, str]:
    """Environment that makes the guard importable in the server's interpreter."""
    return {"PYTHONPATH": str(ADDONS_DIR)}
