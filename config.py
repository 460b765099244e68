"""Settings: one pydantic model, read from `rankgraph.toml` (or a TOML/YAML file you
name) and `RANKGRAPH_*` environment variables (nested with `__`, e.g.
`RANKGRAPH_ENGINE__PRESET=smollm2-135m`). Environment beats file; explicit
arguments beat both. Unknown keys are rejected so typos do not pass silently.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

from rankgraph.choices import PRESET_KINDS, CacheMode, EngineKind, RetrievalMode
from rankgraph.errors import ConfigError
from rankgraph.pipeline_config import PipelineConfig

DEFAULT_CONFIG_FILE = Path("rankgraph.toml")


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback) / "rankgraph"


def default_cache_dir() -> Path:
    """`Settings.cache_dir` when none is set: $XDG_CACHE_HOME/rankgraph or ~/.cache/rankgraph."""
    return _xdg("XDG_CACHE_HOME", ".cache")


def _check_preset(value: str) -> str:
    from rankgraph.engine.presets import PRESETS

    if value not in PRESETS:
        raise ValueError(f"unknown model preset {value!r}; choose one of {', '.join(PRESETS)}")
    return value


def _check_urls(urls: list[str]) -> list[str]:
    """Each an http(s) URL with a host, e.g. http://127.0.0.1:8000/v1."""
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme not in {"http", "https"} or not parsed.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL such as http://127.0.0.1:8000/v1")
        try:
            parsed.port  # noqa: B018 - raises on a port that is not a number or out of range
        except ValueError as exc:
            raise ValueError(f"{url!r}: {exc}") from None
    return urls


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EngineSettings(_Section):
    """Which LLM server rankgraph starts or connects to."""

    kind: EngineKind = "embedded"
    preset: str = "qwen2.5-0.5b"
    model: str | None = Field(
        default=None, description="kind=vllm: HF model id or local path to serve."
    )
    base_urls: list[str] = Field(
        default_factory=list, description="kind=external: running OpenAI-compatible servers."
    )
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535, description="None picks a free port.")
    max_model_len: int = Field(default=4096, ge=256, le=1_048_576)
    kv_cache_gb: int = Field(default=2, ge=1, le=1024)
    cpu_threads: str | None = Field(
        default="0-1", description="VLLM_CPU_OMP_THREADS_BIND for the embedded engine."
    )
    max_logprobs: int = Field(default=20, ge=1, le=1000)
    start_timeout_s: float = Field(default=900.0, gt=0, le=86_400)
    extra_args: list[str] = Field(default_factory=list)

    @field_validator("base_urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        return _check_urls(value)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str, info: ValidationInfo) -> str:
        """A typo in the preset must say so, not "no engine running" later."""
        return _check_preset(value) if info.data.get("kind", "embedded") in PRESET_KINDS else value


class LLMSettings(_Section):
    """How the client talks to the endpoint(s)."""

    base_urls: list[str] = Field(
        default_factory=list, description="Empty: use the running engine's URL."
    )
    model: str | None = Field(default=None, description="Empty: the endpoint's first model.")
    api_key: str = "EMPTY"
    timeout_s: float = Field(default=300.0, gt=0, le=86_400)
    max_attempts: int = Field(default=4, ge=1, le=100)
    backoff_initial_s: float = Field(default=0.5, ge=0, le=600)
    backoff_max_s: float = Field(default=8.0, ge=0, le=3600)
    concurrency: int = Field(
        default=32, ge=1, le=4096, description="In-flight requests per endpoint."
    )
    cache: CacheMode = "off"
    cache_path: Path | None = None
    max_thinking_tokens: int = Field(default=512, ge=1, le=131_072)

    @field_validator("base_urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        return _check_urls(value)

    @model_validator(mode="after")
    def _backoff_order(self) -> LLMSettings:
        if self.backoff_initial_s > self.backoff_max_s:
            raise ValueError(
                f"backoff_initial_s={self.backoff_initial_s} exceeds "
                f"backoff_max_s={self.backoff_max_s}"
            )
        return self


class JudgeSettings(_Section):
    """A second LLM for the relevance judges (the reranker and the filter), for
    instance a small fast model beside a larger reader. Empty: they use `[llm]`.

    `preset` finds that preset's running engine, of `kind` (empty: `[engine].kind`
    when it runs presets, else embedded); `base_urls` (and `model`) name any
    OpenAI-compatible endpoint. The rest of `[llm]` (key, timeouts, cache) applies to
    both clients.
    """

    preset: str | None = Field(default=None, description="A running engine's preset.")
    kind: EngineKind | None = Field(
        default=None, description="The preset's engine: embedded | llamacpp."
    )
    base_urls: list[str] = Field(default_factory=list)
    model: str | None = Field(default=None, description="Empty: the endpoint's first model.")

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        return None if value is None else _check_preset(value)

    @field_validator("base_urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        return _check_urls(value)

    @model_validator(mode="after")
    def _one_place(self) -> JudgeSettings:
        if self.preset and self.base_urls:
            raise ValueError("set judge.preset or judge.base_urls, not both")
        if self.model and not (self.preset or self.base_urls):
            raise ValueError("judge.model needs judge.base_urls (or a judge.preset)")
        if self.kind is not None and not self.preset:
            raise ValueError("judge.kind needs judge.preset")
        if self.kind is not None and self.kind not in PRESET_KINDS:
            kinds = " or ".join(sorted(PRESET_KINDS))
            raise ValueError(f"judge.kind must be {kinds}: a preset runs on those")
        return self


class RetrievalSettings(_Section):
    """Where documents live and how they are searched."""

    chroma_url: str | None = Field(
        default=None, description="A Chroma server (HttpClient); empty: embedded store."
    )
    collection: str = Field(default="docs", min_length=1)
    embedding_model: str = Field(default="all-MiniLM-L6-v2", min_length=1)
    chunk_tokens: int = Field(default=200, ge=16, le=8192)
    chunk_overlap: int = Field(default=32, ge=0, le=4096)
    mode: RetrievalMode = "hybrid"
    k: int = Field(default=20, ge=1, le=10_000)
    rrf_k: int = Field(default=60, ge=1, le=10_000)
    dense_weight: float = Field(
        default=0.7,
        ge=0.0,
        le=1.0,
        description="Hybrid: the dense list's share in weighted RRF (0.5 = plain RRF); 0.7 was"
        " chosen on half of wiki-nq (docs/benchmarks.md).",
    )
    batch_size: int = Field(default=64, ge=1, le=65_536)
    write_batch: int = Field(
        default=256,
        ge=1,
        le=100_000,
        description="Chunks embedded and written per store batch (ingest).",
    )
    candidates: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="Results each of dense and BM25 feed to fusion; the deeper list also"
        " replaces texts stored twice.",
    )

    @field_validator("chroma_url")
    @classmethod
    def _chroma_url(cls, value: str | None) -> str | None:
        if value:
            _check_urls([value if "://" in value else f"http://{value}"])
        return value or None

    @model_validator(mode="after")
    def _overlap_below_size(self) -> RetrievalSettings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(
                f"chunk_overlap={self.chunk_overlap} must be smaller than "
                f"chunk_tokens={self.chunk_tokens}"
            )
        return self


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
    cache_dir: Path = Field(default_factory=default_cache_dir)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    pipeline: PipelineConfig = Field(
        default_factory=PipelineConfig, description="The agent graph's config (pipeline_config)."
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

    def with_pipeline(self, pipeline: PipelineConfig) -> Settings:
        """These settings running `pipeline`.

        E.g. `settings.with_pipeline(settings.pipeline.with_collection("papers"))`.
        """
        return self.model_copy(update={"pipeline": pipeline})

    def for_judge(self) -> Settings | None:
        """These settings pointed at the judges' own LLM, or None when they share `[llm]`."""
        judge = self.judge
        if not (judge.preset or judge.base_urls):
            return None
        llm = self.llm.model_copy(update={"base_urls": judge.base_urls, "model": judge.model})
        engine = self.engine
        if judge.preset:
            kind = judge.kind or (engine.kind if engine.kind in PRESET_KINDS else "embedded")
            engine = engine.model_copy(update={"kind": kind, "preset": judge.preset})
        return self.model_copy(update={"llm": llm, "engine": engine})

    @property
    def engine_dir(self) -> Path:
        """Engine virtualenvs, converted models and run state (large, reproducible)."""
        return self.cache_dir / "engine"


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read settings from `path` (TOML or YAML), else `./rankgraph.toml` if present.

    Raises ConfigError naming the file and, one line each, every bad key and value
    (and the environment variable that sets it), or the file's syntax error.
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
    bound: type[Settings] = type(
        "Settings", (Settings,), {"model_config": {**Settings.model_config, **config}}
    )
    where = f" in {file}" if file else ""
    try:
        return bound(**overrides)
    except ValidationError as exc:
        problems = "\n".join(f"  {line}" for line in _problems(exc))
        raise ConfigError(f"invalid settings{where} or RANKGRAPH_* variables:\n{problems}") from exc
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        syntax = "YAML" if isinstance(exc, yaml.YAMLError) else "TOML"
        detail = " ".join(str(exc).split())  # YAML spreads its message over lines
        raise ConfigError(f"{file}: not valid {syntax}: {detail}") from exc
    except SettingsError as exc:
        raise ConfigError(_env_problem(exc)) from exc


def _problems(exc: ValidationError) -> list[str]:
    """One line per error: `llm.timeout_s = -1.0: Input should be greater than 0 (…)`."""
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        key = ".".join(loc) or "settings"
        value = "" if error["type"] == "missing" else f" = {error.get('input')!r}"
        if error["type"] in {"value_error", "assertion_error"}:
            message = str(error.get("ctx", {}).get("error", error["msg"]))
        else:
            message = error["msg"]
        env = "RANKGRAPH_" + "__".join(part.upper() for part in loc) if loc else ""
        hint = f" (key {key} or {env})" if env and error["type"] != "extra_forbidden" else ""
        if error["type"] == "model_type" or len(repr(error.get("input"))) > 120:
            value = ""
        lines.append(f"{key}{value}: {message}{hint}")
    return lines


def _env_problem(exc: SettingsError) -> str:
    """pydantic-settings' "error parsing value for field …" with what to write instead."""
    return (
        f"{exc}: a list or table setting in the environment must be JSON, "
        """e.g. RANKGRAPH_LLM__BASE_URLS='["http://127.0.0.1:8000/v1"]'"""
    )
