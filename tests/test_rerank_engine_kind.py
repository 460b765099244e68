"""Methods that read prompt logprobs (qlm, combined, cascade) on an engine that returns
none (llama.cpp's server): a default gives way to pointwise, a named method fails
before the first call. No engine: every command here points at a dead port."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rankgraph.agents import Pipeline
from rankgraph.cli import app
from rankgraph.config import load_settings
from rankgraph.errors import ConfigError
from rankgraph.rerank import DEFAULT_METHOD, PORTABLE_METHOD, method_for, reads_prompt_logprobs

DEAD = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there


def config_file(tmp_path: Path, kind: str, rerank: str = "") -> Path:
    path = tmp_path / "rg.toml"
    path.write_text(
        f'data_dir = "{tmp_path}"\n[engine]\nkind = "{kind}"\n[llm]\nbase_urls = ["{DEAD}"]\n'
        f"[pipeline.rerank]\n{rerank}\n"
    )
    return path


@pytest.mark.parametrize(
    ("method", "options", "reads"),
    [
        ("qlm", {}, True),
        ("combined", {}, True),
        ("combined", {"weights": {"yesno": 1.0, "first_stage": 1.0}}, False),
        ("cascade", {}, True),
        ("cascade", {"final": "pointwise"}, False),
        ("pointwise", {}, False),
        ("listwise", {}, False),
        ("none", {}, False),
    ],
)
def test_which_methods_read_prompt_logprobs(method: str, options: dict, reads: bool) -> None:
    assert reads_prompt_logprobs(method, **options) is reads


def test_a_default_gives_way_only_on_an_engine_without_prompt_logprobs() -> None:
    assert method_for("llamacpp", None, default=DEFAULT_METHOD) == PORTABLE_METHOD
    assert method_for("llamacpp", None, default="listwise") == "listwise"
    for kind in ("embedded", "vllm", "external"):
        assert method_for(kind, None, default=DEFAULT_METHOD) == DEFAULT_METHOD  # type: ignore[arg-type]


def test_a_named_method_that_reads_prompt_logprobs_fails_on_llamacpp_with_the_fix() -> None:
    with pytest.raises(ConfigError, match="reads prompt logprobs") as raised:
        method_for("llamacpp", "qlm", default=DEFAULT_METHOD)
    assert "'pointwise'" in str(raised.value)
    assert method_for("llamacpp", "cascade", default=DEFAULT_METHOD, final="pointwise") == "cascade"


def test_the_graph_reranks_with_pointwise_on_llamacpp_and_qlm_on_vllm(tmp_path: Path) -> None:
    llama = Pipeline.from_config(load_settings(config_file(tmp_path, "llamacpp")))
    vllm = Pipeline.from_config(load_settings(config_file(tmp_path, "embedded")))
    assert (llama.deps.reranker.name, llama.config.rerank.method) == ("pointwise", "pointwise")
    assert (vllm.deps.reranker.name, vllm.config.rerank.method) == ("qlm", "qlm")


def test_a_graph_configured_with_qlm_on_llamacpp_fails_when_built(tmp_path: Path) -> None:
    settings = load_settings(config_file(tmp_path, "llamacpp", 'method = "qlm"'))
    with pytest.raises(ConfigError, match="rerank method 'qlm' reads prompt logprobs"):
        Pipeline.from_config(settings)


@pytest.mark.parametrize("command", [["rerank"], ["eval", "rerank", "--depth", "2"]])
def test_the_rerank_commands_refuse_qlm_on_llamacpp_before_the_engine(
    tmp_path: Path, command: list[str]
) -> None:
    data = tmp_path / "candidates.jsonl"
    data.write_text(
        '{"qid": "1", "query": "q", "candidates": [{"docid": "a", "text": "t", "score": 1.0},'
        ' {"docid": "b", "text": "u", "score": 0.5}]}\n'
    )
    (tmp_path / "qrels.txt").write_text("1 0 a 1\n")
    flag = ["-i", str(data)] if command == ["rerank"] else ["--data", str(tmp_path)]
    args = [*command, *flag, "-m", "qlm", "--config", str(config_file(tmp_path, "llamacpp"))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "reads prompt logprobs, which the llamacpp engine does not return" in result.stderr
    assert "unreachable" not in result.stderr.lower() and "Traceback" not in result.stderr
