"""Offline reranking evaluation: input parsing, TREC runs, metrics, the two commands,
and the failure policy (failed LLM calls never pass as results).

Unit tests use a scripted in-process reranker (no model); one engine-backed test
runs `rankgraph eval rerank` end to end on the session engine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rankgraph.cli import app
from rankgraph.errors import ConfigError, InputError, RankgraphError
from rankgraph.eval import rerank as ev
from rankgraph.rerank import batch, trec
from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.rerank.candidates import Query, load_candidates
from rankgraph.rerank.commands import command_settings, parse_options
from rankgraph.schema import Passage


class Reverse:
    """A reranker that reverses its input and records how many queries ran at once."""

    name = "reverse"

    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.in_flight = 0
        self.peak = 0

    async def rerank(
        self,
        query: str,
        passages: Sequence[Passage],
        *,
        top_k: int | None = None,
        budget: Budget | None = None,
    ) -> RerankResult:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        order = list(range(len(passages)))[::-1]
        if self.broken:
            order = order[:-1]
        return RerankResult(
            query=query, method=self.name, passages=[passages[i] for i in order], order=order
        )


def write_candidates(path: Path, lines: list[object]) -> Path:
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines),
        encoding="utf-8",
    )
    return path


def line(qid: str, docids: list[str]) -> dict[str, object]:
    return {
        "qid": qid,
        "query": f"query {qid}",
        "candidates": [
            {"docid": d, "score": 10.0 - i, "text": f"text {d}"} for i, d in enumerate(docids)
        ],
    }


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """Two judged queries; the relevant passage is last in each input list."""
    write_candidates(
        tmp_path / "candidates.jsonl", [line("1", ["a", "b", "c"]), line("2", ["d", "e"])]
    )
    (tmp_path / "qrels.txt").write_text("1 0 c 3\n1 0 a 0\n2 0 e 2\n", encoding="utf-8")
    return tmp_path


# -- metrics ------------------------------------------------------------------------------


def test_bm25_input_order_on_dl19_gives_published_ndcg10(shared_data: Path) -> None:
    data = shared_data / "trec-dl19"
    queries = load_candidates(data / "candidates.jsonl", depth=100)
    metrics = ev.evaluate(ev.read_qrels(data / "qrels.txt"), trec.input_run(queries), 100)
    assert len(queries) == 43
    assert round(metrics["nDCG@10"], 4) == 0.5058
    assert set(metrics) == {"nDCG@1", "nDCG@5", "nDCG@10", "MRR@10", "R@100"}


def test_binary_measures_count_only_rel_2_and_above(tmp_path: Path) -> None:
    qrels_path = tmp_path / "qrels.txt"
    qrels_path.write_text("1 0 a 1\n1 0 b 2\n", encoding="utf-8")
    run = {"1": [("a", 2.0), ("b", 1.0)]}
    metrics = ev.evaluate(ev.read_qrels(qrels_path), run, 2)
    assert metrics["MRR@10"] == 0.5
    assert metrics["R@2"] == 1.0


async def test_evaluate_reranker_scores_input_and_reranked_orders(tiny: Path) -> None:
    outcome = await ev.evaluate_reranker(Reverse(), tiny, depth=100)
    report = outcome.report
    assert report.queries == report.judged_queries == 2
    assert report.input["MRR@10"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert report.reranked["MRR@10"] == 1.0
    assert [d for d, _ in outcome.reranked_run["1"]] == ["c", "b", "a"]


# -- runs -------------------------------------------------------------------------------------


def test_trec_run_round_trips_in_rank_order(tmp_path: Path) -> None:
    run = {"7": [("x", 3.0), ("y", 2.0), ("z", 1.0)], "8": [("w", 1.0)]}
    path = tmp_path / "out" / "run.trec"
    trec.write_trec_run(run, path, "rankgraph-test")
    assert path.read_text().splitlines()[0] == "7 Q0 x 1 3.000000 rankgraph-test"
    assert trec.read_trec_run(path) == run


def test_run_scores_follow_rank_even_when_method_scores_tie() -> None:
    queries = [Query("1", "q", tuple(Passage(id=d, text=d, score=1.0) for d in "abc"))]
    assert trec.input_run(queries) == {"1": [("a", 3.0), ("b", 2.0), ("c", 1.0)]}


def test_read_trec_run_names_the_malformed_line(tmp_path: Path) -> None:
    path = tmp_path / "run.trec"
    path.write_text("1 Q0 a 1 2.0 t\n1 Q0 b two 1.0 t\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"run\.trec:2: expected `qid Q0 docid rank score tag`"):
        trec.read_trec_run(path)


# -- malformed input --------------------------------------------------------------------------


def test_load_candidates_names_line_and_field_of_a_missing_field(tmp_path: Path) -> None:
    bad = line("2", ["a"])
    del bad["candidates"][0]["text"]  # type: ignore[index]
    path = write_candidates(tmp_path / "c.jsonl", [line("1", ["a"]), bad])
    with pytest.raises(InputError, match=r"c\.jsonl:2: candidates\.0\.text: Field required"):
        load_candidates(path)


def test_load_candidates_rejects_a_docid_twice_in_one_query(tmp_path: Path) -> None:
    path = write_candidates(tmp_path / "c.jsonl", [line("1", ["a", "b", "a"])])
    with pytest.raises(InputError, match=r"c\.jsonl:1: duplicate docid 'a' in query '1'"):
        load_candidates(path)


def test_load_candidates_rejects_bad_json_and_repeated_qids(tmp_path: Path) -> None:
    path = write_candidates(tmp_path / "c.jsonl", ["{not json"])
    with pytest.raises(InputError, match=r"c\.jsonl:1:"):
        load_candidates(path)
    path = write_candidates(tmp_path / "d.jsonl", [line("1", ["a"]), line("1", ["b"])])
    with pytest.raises(InputError, match=r"d\.jsonl:2: query '1' already appeared on line 1"):
        load_candidates(path)


def test_limit_keeps_the_first_queries_and_depth_cuts_each_list(tmp_path: Path) -> None:
    path = write_candidates(
        tmp_path / "c.jsonl", [line("1", ["a", "b", "c"]), line("2", ["d"]), "{broken"]
    )
    queries = load_candidates(path, depth=2, limit=2)
    assert [q.qid for q in queries] == ["1", "2"]
    assert [p.id for p in queries[0].passages] == ["a", "b"]
    assert queries[0].passages[0].score == 10.0


# -- reranking --------------------------------------------------------------------------------


async def test_rerank_queries_keeps_at_most_concurrency_queries_in_flight() -> None:
    queries = [Query(str(i), "q", (Passage(id="a", text="a"),)) for i in range(10)]
    reranker = Reverse()
    results = await batch.rerank_queries(reranker, queries, concurrency=3)
    assert len(results) == 10
    assert reranker.peak == 3


async def test_rerank_queries_rejects_a_result_that_is_not_a_permutation() -> None:
    queries = [Query("1", "q", tuple(Passage(id=d, text=d) for d in "ab"))]
    with pytest.raises(RankgraphError, match="not a permutation"):
        await batch.rerank_queries(Reverse(broken=True), queries)


# -- options and commands ---------------------------------------------------------------------


def test_parse_options_reads_json_values_and_keeps_text() -> None:
    options = parse_options(
        ["window-size=20", "shuffle=true", 'labels=["A","B"]', "prompt=graded", "t=0.5"]
    )
    assert options == {
        "window_size": 20,
        "shuffle": True,
        "labels": ["A", "B"],
        "prompt": "graded",
        "t": 0.5,
    }


def test_parse_options_rejects_missing_equals_and_repeated_keys() -> None:
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_options(["window"])
    with pytest.raises(ConfigError, match="given twice"):
        parse_options(["a=1", "a=2"])


def test_commands_cache_replies_unless_told_not_to(tmp_path: Path) -> None:
    config = tmp_path / "rankgraph.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n', encoding="utf-8")
    assert command_settings(config, no_cache=False).llm.cache == "read-write"
    assert command_settings(config, no_cache=True).llm.cache == "off"
    config.write_text(f'data_dir = "{tmp_path}"\n[llm]\ncache = "replay"\n', encoding="utf-8")
    assert command_settings(config, no_cache=False).llm.cache == "replay"


async def test_a_failing_query_cancels_the_others() -> None:
    cancelled: list[str] = []

    class Fails(Reverse):
        async def rerank(
            self, query: str, passages: Sequence[Passage], **kw: object
        ) -> RerankResult:
            if query == "boom":
                raise RankgraphError("boom")
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                cancelled.append(query)
                raise
            raise AssertionError("not cancelled")

    queries = [Query("1", "boom", (Passage(id="a", text="a"),))]
    queries += [Query(str(i), f"q{i}", (Passage(id="a", text="a"),)) for i in range(2, 5)]
    with pytest.raises(RankgraphError, match="boom"):
        await batch.rerank_queries(Fails(), queries, concurrency=4)
    await asyncio.sleep(0)
    assert sorted(cancelled) == ["q2", "q3", "q4"]


def test_eval_rerank_reports_a_missing_data_file_and_exits_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "rerank", "--data", str(tmp_path), "-m", "none"])
    assert result.exit_code == 1
    assert "candidates.jsonl not found" in result.stderr


def test_rerank_reports_a_malformed_line_and_exits_1(tmp_path: Path) -> None:
    path = write_candidates(tmp_path / "c.jsonl", [line("1", ["a", "a"])])
    result = CliRunner().invoke(app, ["rerank", "--input", str(path), "-m", "none"])
    assert result.exit_code == 1
    assert "c.jsonl:1: duplicate docid 'a'" in result.stderr


def test_eval_rerank_none_prints_bm25_json_without_an_engine(shared_data: Path) -> None:
    data = str(shared_data / "trec-dl19")
    result = CliRunner().invoke(app, ["eval", "rerank", "--data", data, "-m", "none", "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["queries"] == 43 and report["depth"] == 100
    assert round(report["input"]["nDCG@10"], 4) == round(report["reranked"]["nDCG@10"], 4) == 0.5058
    assert report["cost"]["usage"]["calls"] == 0


def test_eval_rerank_limit_evaluates_only_the_first_queries(tiny: Path) -> None:
    args = ["eval", "rerank", "--data", str(tiny), "-m", "none", "--limit", "1", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["queries"] == report["judged_queries"] == 1
    assert report["input"]["MRR@10"] == pytest.approx(1 / 3)


def test_eval_rerank_prints_both_orders_and_the_cost(tiny: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "rerank", "--data", str(tiny), "-m", "none"])
    assert result.exit_code == 0, result.stderr
    for text in ("nDCG@10", "MRR@10", "R@100", "input order", "LLM calls", "prompt tokens"):
        assert text in result.stdout


def test_rerank_writes_a_trec_run_to_stdout(tiny: Path) -> None:
    path = str(tiny / "candidates.jsonl")
    result = CliRunner().invoke(app, ["rerank", "--input", path, "-m", "none", "--depth", "2"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "1 Q0 a 1 2.000000 rankgraph-none",
        "1 Q0 b 2 1.000000 rankgraph-none",
        "2 Q0 d 1 2.000000 rankgraph-none",
        "2 Q0 e 2 1.000000 rankgraph-none",
    ]


def test_unknown_method_option_is_an_error_naming_it(tiny: Path) -> None:
    args = ["eval", "rerank", "--data", str(tiny), "-m", "none", "--option", "window=3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "window" in result.stderr


@pytest.mark.engine
def test_eval_rerank_end_to_end_on_the_engine(
    engine_config: Path, shared_data: Path, tmp_path: Path
) -> None:
    run_path = tmp_path / "run.trec"
    args = ["eval", "rerank", "--data", str(shared_data / "trec-dl19"), "-m", "pointwise"]
    args += ["--depth", "5", "--limit", "2", "--json", "--no-cache"]
    args += ["--config", str(engine_config), "--output", str(run_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["queries"] == 2
    assert report["cost"]["usage"]["calls"] > 0
    run = trec.read_trec_run(run_path)
    queries = load_candidates(shared_data / "trec-dl19" / "candidates.jsonl", depth=5, limit=2)
    for query in queries:
        assert sorted(d for d, _ in run[query.qid]) == sorted(p.id for p in query.passages)
