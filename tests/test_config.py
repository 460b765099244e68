"""Settings: file, environment and arguments, in that order of precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from rankgraph.agents.config import PipelineConfig
from rankgraph.config import load_settings
from rankgraph.errors import ConfigError
from rankgraph.rerank import build

REPO = Path(__file__).resolve().parents[1]


def test_the_annotated_example_config_is_valid_in_every_section() -> None:
    settings = load_settings(REPO / "rankgraph.example.toml")
    pipeline = PipelineConfig.model_validate(settings.pipeline)
    assert settings.engine.preset == "qwen2.5-0.5b"
    assert pipeline.rerank.method == "pointwise"
    build(pipeline.rerank.method, client=None, **pipeline.rerank.options)  # type: ignore[arg-type]


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "rg.toml"
    file.write_text('[engine]\npreset = "qwen2.5-1.5b"\nkv_cache_gb = 3\n')
    monkeypatch.setenv("RANKGRAPH_ENGINE__PRESET", "smollm2-135m")
    settings = load_settings(file)
    assert settings.engine.preset == "smollm2-135m"
    assert settings.engine.kv_cache_gb == 3


def test_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANKGRAPH_DATA_DIR", "/from/env")
    assert load_settings(data_dir="/from/arg").data_dir == Path("/from/arg")
    assert load_settings().data_dir == Path("/from/env")


def test_yaml_files_are_read(tmp_path: Path) -> None:
    file = tmp_path / "rg.yaml"
    file.write_text("retrieval:\n  mode: bm25\n  k: 7\n")
    settings = load_settings(file)
    assert (settings.retrieval.mode, settings.retrieval.k) == ("bm25", 7)


def test_an_unknown_key_is_an_error_naming_the_file_and_the_key(tmp_path: Path) -> None:
    file = tmp_path / "rg.toml"
    file.write_text("[engine]\npresett = 'x'\n")
    with pytest.raises(ConfigError, match=r"rg\.toml[\s\S]*presett"):
        load_settings(file)


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")
