"""`eval rerank --method a,b`: method specs, per-query scores, the paired test
against the input order, the comparison table and the quality-vs-tokens plot.
Real computations on small inputs; one test runs two methods on the engine."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from rankgraph.cli import app
from rankgraph.errors import ConfigError
from rankgraph.eval import rerank as ev
from rankgraph.eval.compare import (
    paired_permutation_p,
    paired_t_p,
    pareto_front,
    parse_specs,
    per_query,
)
from rankgraph.eval.plot import quality_vs_tokens
from rankgraph.eval.rerank_command import comparison_table
from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.schema import Passage
from rankgraph.trace import Usage

KNOWN = ["none", "pointwise", "qlm"]


def test_specs_split_on_commas_and_carry_their_own_options_over_shared_ones() -> None:
    specs = parse_specs(
        "pointwise, pointwise:variant=graded:fusion_weight=0.7", KNOWN, {"batch": 3}
    )
    assert [s.label for s in specs] == ["pointwise", "pointwise:variant=graded:fusion_weight=0.7"]
    assert specs[0].options == {"batch": 3}
    assert specs[1].options == {"batch": 3, "variant": "graded", "fusion_weight": 0.7}


def test_specs_keep_commas_inside_json_option_values() -> None:
    specs = parse_specs('qlm,pointwise:weights={"a":1,"b":[2,3]}', KNOWN)
    assert specs[1].options == {"weights": {"a": 1, "b": [2, 3]}}


@pytest.mark.parametrize(
    ("text", "message"),
    [("pointwise,bogus", "unknown method 'bogus'"), ("qlm,qlm", "twice"), (" , ", "at least one")],
)
def test_specs_reject_unknown_repeated_or_no_methods(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_specs(text, KNOWN)


def test_per_query_ndcg_counts_a_judged_query_once_with_its_own_value(tmp_path: Path) -> None:
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("1 0 a 3\n2 0 d 1\n", encoding="utf-8")
    run = {"1": [("a", 2.0), ("b", 1.0)], "2": [("c", 2.0), ("d", 1.0)]}
    values = per_query(ev.read_qrels(qrels), run)
    assert values["1"] == 1.0
    assert 0 < values["2"] < 1


def test_a_consistent_gain_is_significant_and_a_coin_flip_is_not() -> None:
    before = {f"q{i}": 0.5 for i in range(30)}
    gain = {q: v + 0.1 + 0.01 * (i % 3) for i, (q, v) in enumerate(before.items())}
    mixed = {q: v + (0.1 if i % 2 else -0.1) for i, (q, v) in enumerate(before.items())}
    assert paired_permutation_p(before, gain) < 0.001
    assert paired_permutation_p(before, mixed) > 0.5
    assert paired_permutation_p(before, before) == 1.0
    t = paired_t_p(before, gain)
    assert t is not None and t < 0.001


def test_the_permutation_p_is_seeded_so_a_rerun_prints_the_same() -> None:
    a = {f"q{i}": 0.1 * (i % 5) for i in range(12)}
    b = {q: v + (0.05 if i % 3 else -0.02) for i, (q, v) in enumerate(a.items())}
    assert paired_permutation_p(a, b) == paired_permutation_p(a, b)


def test_pareto_front_keeps_only_points_no_cheaper_one_matches() -> None:
    points = [(0.0, 0.50), (50.0, 0.49), (100.0, 0.56), (100.0, 0.52), (400.0, 0.58)]
    assert pareto_front(points) == [0, 2, 4]


class Reverse:
    name = "reverse"

    async def rerank(
        self,
        query: str,
        passages: Sequence[Passage],
        *,
        top_k: int | None = None,
        budget: Budget | None = None,
    ) -> RerankResult:
        order = list(range(len(passages)))[::-1]
        return RerankResult(
            query=query,
            method=self.name,
            passages=[passages[i] for i in order],
            order=order,
            usage=Usage(calls=len(passages), prompt_tokens=100 * len(passages)),
        )


@pytest.fixture
def reversed_report(tmp_path: Path) -> ev.EvalReport:
    lines = [
        json.dumps(
            {
                "qid": q,
                "query": "q",
                "candidates": [{"docid": f"{q}{i}", "score": 9 - i, "text": "t"} for i in range(3)],
            }
        )
        for q in ("1", "2")
    ]
    (tmp_path / "candidates.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "qrels.txt").write_text("1 0 12 3\n2 0 22 2\n", encoding="utf-8")
    return asyncio.run(ev.evaluate_reranker(Reverse(), tmp_path)).report


def test_the_report_carries_per_query_ndcg_and_a_p_value(reversed_report: ev.EvalReport) -> None:
    assert reversed_report.reranked_ndcg10 == {"1": 1.0, "2": 1.0}
    assert reversed_report.input_ndcg10["1"] == pytest.approx(0.5)
    assert reversed_report.p_value is not None and 0 < reversed_report.p_value <= 1


def test_comparison_table_has_the_input_row_and_one_row_per_method(
    reversed_report: ev.EvalReport,
) -> None:
    other = reversed_report.model_copy(update={"label": "reverse:again"})
    console = Console(width=200, record=True)
    console.print(comparison_table([reversed_report, other]))
    text = console.export_text()
    assert "input order" in text and "reverse:again" in text
    assert "+0.5000" in text and "600" in text  # Δ nDCG@10 and prompt tokens
    header = next(line for line in text.splitlines() if line.startswith("┃ method"))
    assert "nDCG@1 " in header  # the first passage: what a small reader answers from
    row = next(line for line in text.splitlines() if line.startswith("│ input order"))
    assert f"{reversed_report.input['nDCG@1']:.4f}" in row


def test_plot_writes_png_and_svg_with_the_front(
    reversed_report: ev.EvalReport, tmp_path: Path
) -> None:
    written = quality_vs_tokens([reversed_report], tmp_path / "img" / "front.png")
    assert [p.name for p in written] == ["front.png", "front.svg"]
    assert all(p.stat().st_size > 1000 for p in written)
    assert "Pareto front" in written[1].read_text(encoding="utf-8")


def test_eval_rerank_rejects_an_unknown_method_in_a_list_before_any_engine(
    tmp_path: Path,
) -> None:
    args = ["eval", "rerank", "--data", str(tmp_path), "-m", "none,bogus"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert "bogus" in result.stderr


@pytest.mark.engine
def test_eval_rerank_compares_methods_in_one_run_on_the_engine(
    engine_config: Path, shared_data: Path, tmp_path: Path
) -> None:
    args = ["eval", "rerank", "--data", str(shared_data / "trec-dl19"), "-m", "none,qlm"]
    args += ["--depth", "3", "--limit", "2", "--json", "--no-cache", "--config", str(engine_config)]
    args += ["--plot", str(tmp_path / "front")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    none, qlm = json.loads(result.stdout)
    assert (none["label"], qlm["label"]) == ("none", "qlm")
    assert qlm["cost"]["usage"]["calls"] == 6 and qlm["cost"]["failures"] == 0
    assert set(qlm["reranked_ndcg10"]) == set(none["input_ndcg10"])
    assert (tmp_path / "front.png").is_file() and (tmp_path / "front.svg").is_file()
