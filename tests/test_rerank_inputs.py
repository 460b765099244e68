"""Input files of `rerank` and `eval rerank`: every bad line named before any LLM call.

The commands here point at a port where nothing listens: an error about the input
file, not the engine, proves the file was checked first.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rankgraph.cli import app
from rankgraph.errors import InputError
from rankgraph.eval import rerank as ev
from rankgraph.prompts.passages import body
from rankgraph.rerank.candidates import load_candidates

DEAD = "http://127.0.0.1:9/v1"


def candidates(path: Path, *lines: str | bytes | dict[str, object]) -> Path:
    out = b""
    for item in lines:
        if isinstance(item, dict):
            item = json.dumps(item)
        out += (item.encode() if isinstance(item, str) else item) + b"\n"
    path.write_bytes(out)
    return path


def good(qid: object = "1", docids: tuple[object, ...] = ("a", "b")) -> dict[str, object]:
    return {
        "qid": qid,
        "query": "q",
        "candidates": [{"docid": d, "text": "t", "score": 1.0} for d in docids],
    }


def test_numeric_qids_and_docids_are_read_as_text(tmp_path: Path) -> None:
    queries = load_candidates(candidates(tmp_path / "c.jsonl", good(1103812, (8, 9))))
    assert queries[0].qid == "1103812"
    assert [p.id for p in queries[0].passages] == ["8", "9"]


def test_a_candidates_title_reaches_the_prompt_before_its_text(tmp_path: Path) -> None:
    line = good()
    line["candidates"] = [{"docid": "a", "text": "He won in 1901.", "title": "Wilhelm Röntgen"}]
    passage = load_candidates(candidates(tmp_path / "c.jsonl", line))[0].passages[0]
    assert passage.title == "Wilhelm Röntgen"
    assert body(passage, 100)[0] == "Wilhelm Röntgen. He won in 1901."


@pytest.mark.parametrize("score", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_non_finite_score_is_rejected_with_its_line(tmp_path: Path, score: str) -> None:
    bad = '{"qid": "2", "query": "q", "candidates": [{"docid": "a", "text": "t", "score": %s}]}'
    path = candidates(tmp_path / "c.jsonl", good(), bad % score)
    with pytest.raises(
        InputError, match=r"c\.jsonl:2: candidates\.0\.score: Input should be a finite"
    ):
        load_candidates(path)


def test_every_bad_line_is_listed_with_its_number(tmp_path: Path) -> None:
    path = candidates(tmp_path / "c.jsonl", "{oops", good("1"), b"\xff\xfe", good("1"))
    with pytest.raises(InputError) as info:
        load_candidates(path)
    lines = str(info.value).splitlines()
    assert [line.split(": ")[0].rsplit(":", 1)[1] for line in lines] == ["1", "3", "4"]
    assert "not UTF-8" in lines[1]
    assert "already appeared on line 2" in lines[2]


def test_a_query_with_no_candidates_is_an_error_not_a_zero(tmp_path: Path) -> None:
    path = candidates(tmp_path / "c.jsonl", {"qid": "7", "query": "q", "candidates": []})
    with pytest.raises(InputError, match=r"c\.jsonl:1: query '7' has no candidates"):
        load_candidates(path)


def test_rerank_rejects_a_nan_score_before_looking_for_the_engine(tmp_path: Path) -> None:
    bad = '{"qid": "1", "query": "q", "candidates": [{"docid": "a", "text": "t", "score": NaN}]}'
    path = candidates(tmp_path / "c.jsonl", bad)
    config = tmp_path / "rg.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n[llm]\nbase_urls = ["{DEAD}"]\n')
    args = ["rerank", "-i", str(path), "-m", "pointwise", "--config", str(config)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "c.jsonl:1: candidates.0.score: Input should be a finite number" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_method_is_rejected_before_files_or_engine_are_read(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["rerank", "-i", str(tmp_path / "none.jsonl"), "-m", "foo"])
    assert result.exit_code == 2
    assert "unknown method 'foo'" in result.output
    assert "pointwise" in result.output


def test_an_unknown_method_option_is_rejected_before_the_engine(tmp_path: Path) -> None:
    path = candidates(tmp_path / "c.jsonl", good())
    config = tmp_path / "rg.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n[llm]\nbase_urls = ["{DEAD}"]\n')
    args = ["rerank", "-i", str(path), "-m", "pointwise", "-O", "windw=3", "--config", str(config)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "unknown option(s) ['windw'] for rerank method 'pointwise'" in result.stderr


@pytest.mark.parametrize("command", [["rerank"], ["eval", "rerank"]])
def test_help_lists_each_method_with_its_options_and_defaults(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "pointwise  variant=yesno, layout=passage_first" in result.stdout
    assert "setwise    set_size=4, k=10" in result.stdout
    assert "none       (no options)" in result.stdout


def test_qrels_skip_comments_and_name_each_junk_line(tmp_path: Path) -> None:
    path = tmp_path / "qrels.txt"
    path.write_text("# judged by hand\n1 0 a 2\n1 0 b high\n\n1 0 c\n")
    with pytest.raises(InputError) as info:
        ev.read_qrels(path)
    lines = str(info.value).splitlines()
    assert [line.split(": ")[0] for line in lines] == [f"{path}:3", f"{path}:5"]
    path.write_text("# judged by hand\n1 0 a 2\n")
    assert [(q.query_id, q.doc_id, q.relevance) for q in ev.read_qrels(path)] == [("1", "a", 2)]


def test_empty_qrels_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "qrels.txt"
    path.write_text("# nothing yet\n")
    with pytest.raises(InputError, match="holds no judgments"):
        ev.read_qrels(path)


def test_eval_without_a_judged_query_fails_before_reranking_and_prints_no_nan(
    tmp_path: Path,
) -> None:
    candidates(tmp_path / "candidates.jsonl", good("1"))
    (tmp_path / "qrels.txt").write_text("99 0 a 1\n")
    args = ["eval", "rerank", "--data", str(tmp_path), "-m", "none", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "none of the 1 queries has judgments" in result.stderr
    assert "NaN" not in result.stdout


def test_eval_json_is_strict_json(tmp_path: Path) -> None:
    candidates(tmp_path / "candidates.jsonl", good("1"), good("2"))
    (tmp_path / "qrels.txt").write_text("1 0 b 2\n")
    args = ["eval", "rerank", "--data", str(tmp_path), "-m", "none", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr

    def no_constants(name: str) -> float:
        raise AssertionError(f"{name} in --json output")

    report = json.loads(result.stdout, parse_constant=no_constants)
    assert report["judged_queries"] == 1
    assert all(math.isfinite(v) for v in report["reranked"].values())
