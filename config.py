"""Settings: one pydantic model, read from `rankgraph.toml` (or a TOML/YAML file you
name) and `RANKGRAPH_*` environment variables (nested with `__`, e.g.
`RANKGRAPH_ENGINE__PRESET=smollm2-135m`). Environment beats file; explicit
arguments beat both. Unknown keys are rejected so typos do not pass silently.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

from rankgraph.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("rankgraph.toml")


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback) / "rankgraph"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EngineSettings(_Section):
    """Which LLM server rankgraph starts or connects to."""

    kind: Literal["embedded", "llamacpp", "vllm", "external"] = "embedded"
    preset: str = "qwen2.5-0.5b"
    model: str | None = Field(
        default=None, description="kind=vllm: HF model id or local path to serve."
    )
    base_urls: list[str] = Field(
        default_factory=list, description="kind=external: running OpenAI-compatible servers."
    )
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, description="None picks a free port.")
    max_model_len: int = 4096
    kv_cache_gb: int = 2
    cpu_threads: str | None = Field(
        default="0-1", description="VLLM_CPU_OMP_THREADS_BIND for the embedded engine."
    )
    max_logprobs: int = 20
    start_timeout_s: float = 900.0
    extra_args: list[str] = Field(default_factory=list)


class LLMSettings(_Section):
    """How the client talks to the endpoint(s)."""

    base_urls: list[str] = Field(
        default_factory=list, description="Empty: use the running engine's URL."
    )
    model: str | None = Field(default=None, description="Empty: the endpoint's first model.")
    api_key: str = "EMPTY"
    timeout_s: float = 300.0
    max_attempts: int = 4
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0
    concurrency: int = Field(default=32, description="In-flight requests per endpoint.")
    cache: Literal["off", "read-write", "replay"] = "off"
    cache_path: Path | None = None
    max_thinking_tokens: int = 512


class RetrievalSettings(_Section):
    """Where documents live and how they are searched."""

    chroma_url: str | None = Field(
        default=None, description="A Chroma server (HttpClient); empty: embedded store."
    )
    collection: str = "docs"
    embedding_model: str = "all-MiniLM-L6-v2"
    chunk_tokens: int = 200
    chunk_overlap: int = 32
    mode: Literal["dense", "bm25", "hybrid"] = "hybrid"
    k: int = 20
    rrf_k: int = 60
    dense_weight: float = Field(
        default=0.7,
        ge=0.0,
        le=1.0,
        description="Hybrid: the dense list's share in weighted RRF (0.5 = plain RRF); 0.7 was"
        " chosen on half of wiki-nq (docs/benchmarks.md).",
    )
    batch_size: int = 64
    write_batch: int = Field(
        default=256, description="Chunks embedded and written per store batch (ingest)."
    )
    candidates: int = Field(
        default=100, description="Hybrid: results each of dense and BM25 feed to fusion."
    )


class ServerSettings(_Section):
    """`rankgraph serve`: where it listens, who may call it and how much work it takes on."""

    host: str = Field(
        default="127.0.0.1", description="Non-loopback hosts need api_keys (refused otherwise)."
    )
    port: int = Field(default=8080, ge=0, le=65535)
    api_keys: list[str] = Field(
        default_factory=list, description="Bearer keys accepted; empty: no auth, loopback only."
    )
    model_name: str | None = Field(
        default=None, description="The chat model id served; empty: rankgraph/<collection>."
    )
    max_in_flight: int = Field(default=4, ge=1, description="Pipelines running at once.")
    max_queue: int = Field(
        default=16, ge=0, description="Requests waiting for a slot; past it: 429 + Retry-After."
    )
    retry_after_s: int = Field(default=5, ge=1)
    max_request_bytes: int = Field(default=1_000_000, ge=1024, description="Past it: 413.")
    max_messages: int = Field(default=200, ge=1)
    rerank_max_documents: int = Field(default=200, ge=1)
    rerank_profiles: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Rerank model names beyond the methods: {name = {method = "…", options ='
        " {…}}}.",
    )
    progress: Literal["reasoning_content", "off"] = Field(
        default="reasoning_content",
        description="Stream the graph's progress as this delta field (chat UIs show it as"
        " thinking).",
    )
    trace_max_count: int = Field(default=1000, ge=1, description="Stored traces kept (newest).")
    trace_max_age_days: float = Field(default=7.0, gt=0)


class Settings(BaseSettings):
    """Everything rankgraph reads from the environment or a config file."""

    model_config = SettingsConfigDict(
        env_prefix="RANKGRAPH_",
        env_nested_delimiter="__",
        extra="forbid",
        toml_file=None,
        yaml_file=None,
    )

    data_dir: Path = Field(default_factory=lambda: _xdg("XDG_DATA_HOME", ".local/share"))
    cache_dir: Path = Field(default_factory=lambda: _xdg("XDG_CACHE_HOME", ".cache"))
    engine: EngineSettings = Field(default_factory=EngineSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    pipeline: dict[str, Any] = Field(
        default_factory=dict, description="The agent graph's config (see agents.config)."
    )
    server: ServerSettings = Field(default_factory=ServerSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls),
            YamlConfigSettingsSource(settings_cls),
        )

    @property
    def engine_dir(self) -> Path:
        """Engine virtualenvs, converted models and run state (large, reproducible)."""
        return self.cache_dir / "engine"


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read settings from `path` (TOML or YAML), else `./rankgraph.toml` if present.

    Raises ConfigError naming the file and the bad key.
    """
    file: Path | None = Path(path) if path is not None else None
    if file is None and DEFAULT_CONFIG_FILE.is_file():
        file = DEFAULT_CONFIG_FILE
    if file is not None and not file.is_file():
        raise ConfigError(f"config file not found: {file}")
    config: dict[str, Any] = {}
    if file is not None:
        key = "yaml_file" if file.suffix in {".yaml", ".yml"} else "toml_file"
        if file.suffix not in {".yaml", ".yml", ".toml"}:
            raise ConfigError(f"config file must be .toml, .yaml or .yml: {file}")
        config[key] = file
    bound = type("Settings", (Settings,), {"model_config": {**Settings.model_config, **config}})
    try:
        return bound(**overrides)
    except ValidationError as exc:
        where = f" in {file}" if file else ""
        raise ConfigError(f"invalid settings{where}:\n{exc}") from exc
