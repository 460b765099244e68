"""Settings: file, environment and arguments, in that order of precedence."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from rankgraph.config import JudgeSettings, load_settings
from rankgraph.errors import ConfigError
from rankgraph.rerank import METHODS, build

REPO = Path(__file__).resolve().parents[1]


def test_the_annotated_example_config_is_valid_in_every_section() -> None:
    settings = load_settings(REPO / "rankgraph.example.toml")
    pipeline = settings.pipeline
    assert settings.engine.preset == "qwen2.5-0.5b"
    assert pipeline.rerank.method is None  # qlm, or pointwise on an engine without prompt logprobs
    build("none", client=None)
    assert set(pipeline.rerank.options) <= {f.name for f in fields(METHODS["pointwise"].config)}


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


@pytest.mark.parametrize(
    ("env", "value", "says"),
    [
        ("RANKGRAPH_LLM__CONCURRENCY", "0", "llm.concurrency = '0': Input should be greater than"),
        ("RANKGRAPH_LLM__TIMEOUT_S", "-1", "llm.timeout_s = '-1': Input should be greater than 0"),
        ("RANKGRAPH_RETRIEVAL__K", "0", "retrieval.k = '0'"),
        ("RANKGRAPH_ENGINE__PORT", "70000", "engine.port = '70000'"),
        ("RANKGRAPH_LLM__BASE_URLS", '["127.0.0.1:8000"]', "is not an http(s) URL"),
    ],
)
def test_an_out_of_bounds_number_or_bad_url_is_one_line_naming_key_value_and_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, says: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    problems = str(info.value).splitlines()[1:]
    assert len(problems) == 1
    assert says in problems[0] and env in problems[0]


def test_every_problem_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANKGRAPH_LLM__CONCURRENCY", "0")
    monkeypatch.setenv("RANKGRAPH_LLM__MAX_ATTEMPTS", "0")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert len(str(info.value).splitlines()) == 3


def test_an_unknown_preset_is_named_with_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANKGRAPH_ENGINE__PRESET", "nope")
    with pytest.raises(
        ConfigError, match=r"unknown model preset 'nope'; choose one of smollm2-135m"
    ):
        load_settings()


def test_a_list_setting_that_is_not_json_in_the_environment_says_how_to_write_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RANKGRAPH_LLM__BASE_URLS", "garbage")
    with pytest.raises(ConfigError, match=r"must be JSON, e\.g\. RANKGRAPH_LLM__BASE_URLS="):
        load_settings()


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("bad.toml", "[llm\nx = 1\n", "not valid TOML"),
        ("bad.yaml", "llm: [\n - a\n c", "not valid YAML"),
    ],
)
def test_a_config_file_syntax_error_names_the_file_and_position(
    tmp_path: Path, name: str, text: str, says: str
) -> None:
    file = tmp_path / name
    file.write_text(text)
    with pytest.raises(ConfigError, match=rf"{name}: {says}:.*line"):
        load_settings(file)


def test_chunk_overlap_must_be_smaller_than_the_chunk() -> None:
    with pytest.raises(
        ConfigError, match="chunk_overlap=200 must be smaller than chunk_tokens=100"
    ):
        load_settings(retrieval={"chunk_tokens": 100, "chunk_overlap": 200})


def test_a_judge_llm_is_a_preset_or_endpoints_and_points_only_the_judges_elsewhere() -> None:
    main = load_settings(llm={"base_urls": ["http://reader:8000/v1"], "model": "big"})
    assert main.for_judge() is None  # no [judge]: the judges ask [llm]
    by_preset = main.model_copy(update={"judge": JudgeSettings(preset="qwen2.5-0.5b")})
    judging = by_preset.for_judge()
    assert judging is not None
    # found through the preset's running engine, not the reader's endpoint
    assert (judging.llm.base_urls, judging.llm.model) == ([], None)
    assert (judging.engine.kind, judging.engine.preset) == ("embedded", "qwen2.5-0.5b")
    assert judging.llm.timeout_s == main.llm.timeout_s and judging.pipeline == main.pipeline
    served = load_settings(judge={"base_urls": ["http://judge:8000/v1"], "model": "small"})
    judging = served.for_judge()
    assert judging is not None
    assert (judging.llm.base_urls, judging.llm.model) == (["http://judge:8000/v1"], "small")
    for bad, match in [
        ({"preset": "gpt-9"}, "unknown model preset 'gpt-9'"),
        ({"preset": "qwen2.5-0.5b", "base_urls": ["http://j:1/v1"]}, "not both"),
        ({"model": "small"}, "judge.model needs judge.base_urls"),
        ({"kind": "llamacpp"}, "judge.kind needs judge.preset"),
        ({"preset": "qwen2.5-0.5b", "kind": "vllm"}, "judge.kind must be embedded or llamacpp"),
    ]:
        with pytest.raises(ConfigError, match=match):
            load_settings(judge=bad)


@pytest.mark.parametrize(
    ("engine_kind", "judge_kind", "found_as"),
    [
        ("embedded", None, "embedded"),
        ("llamacpp", None, "llamacpp"),  # a llama.cpp machine runs its judge there too
        ("external", None, "embedded"),  # no preset of its own to follow
        ("embedded", "llamacpp", "llamacpp"),
        ("llamacpp", "embedded", "embedded"),
    ],
)
def test_a_judge_preset_is_looked_up_on_the_engine_kind_it_runs_on(
    engine_kind: str, judge_kind: str | None, found_as: str
) -> None:
    engine = {"kind": engine_kind} | (
        {"base_urls": ["http://reader:8000/v1"]} if engine_kind == "external" else {}
    )
    judge = {"preset": "qwen2.5-0.5b"} | ({"kind": judge_kind} if judge_kind else {})
    judging = load_settings(engine=engine, judge=judge).for_judge()
    assert judging is not None
    assert (judging.engine.kind, judging.engine.preset) == (found_as, "qwen2.5-0.5b")
