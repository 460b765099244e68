"""Several rerank methods over the same queries: method specs, per-query scores,
paired significance against the input order, and the quality-vs-cost front.

Pure functions; `eval rerank --method a,b,c` runs the methods and prints what
these compute. A method spec is a registry name, optionally with its own options
after colons: `pointwise`, `pointwise:variant=graded`, `qlm:fusion_weight=0.7`
(values read as `--option` values are; commas inside [] or {} stay with the value).
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ir_measures
from ir_measures import Qrel, ScoredDoc

from rankgraph.errors import ConfigError
from rankgraph.rerank.commands import parse_options
from rankgraph.rerank.trec import Run

PERMUTATIONS = 10_000


@dataclass(frozen=True)
class MethodSpec:
    """One column of a comparison: a label, the registry method and its options."""

    label: str
    method: str
    options: dict[str, Any] = field(default_factory=dict)


def parse_specs(
    text: str, known: Sequence[str], shared: Mapping[str, Any] | None = None
) -> list[MethodSpec]:
    """`a,b:key=value` → specs; `shared` options (from `--option`) go to every method,
    a spec's own options override them. Unknown methods and repeated labels are errors.

    >>> specs = parse_specs("none, qlm:max_words=60", ["none", "qlm"])
    >>> [(s.label, s.method, s.options) for s in specs]
    [('none', 'none', {}), ('qlm:max_words=60', 'qlm', {'max_words': 60})]
    """
    specs: list[MethodSpec] = []
    for raw in _split_top_level(text):
        label = raw.strip()
        if not label:
            continue
        name, *items = _split_top_level(label, ":")
        if name not in known:
            raise ConfigError(
                f"unknown method {name!r} in {label!r}; choose one of {', '.join(known)}"
            )
        options = {**(shared or {}), **parse_options(items)}
        specs.append(MethodSpec(label, name, options))
    if not specs:
        raise ConfigError("--method: name at least one method, e.g. --method pointwise,qlm")
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"--method names a method twice: {text!r}")
    return specs


def _split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside brackets and braces, so JSON option values keep theirs.

    >>> _split_top_level('a,b:w={"x":1,"y":2},c')
    ['a', 'b:w={"x":1,"y":2}', 'c']
    """
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == sep and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def per_query(qrels: Sequence[Qrel], run: Run, measure: str = "nDCG@10") -> dict[str, float]:
    """The measure for each judged query of the run (0.0 for a judged query it misses)."""
    wanted = ir_measures.parse_measure(measure)
    qrels = [q for q in qrels if q.query_id in run]
    scored = [ScoredDoc(qid, d, s) for qid, ranked in run.items() for d, s in ranked]
    values = {m.query_id: float(m.value) for m in ir_measures.iter_calc([wanted], qrels, scored)}
    judged = {q.query_id for q in qrels}
    return {qid: values.get(qid, 0.0) for qid in sorted(judged)}


def paired_permutation_p(
    a: Mapping[str, float], b: Mapping[str, float], *, rounds: int = PERMUTATIONS, seed: int = 0
) -> float:
    """Two-sided p-value of mean(b - a) over the shared queries (paired randomization
    test: each query's difference keeps or flips its sign at random). Seeded, so a
    rerun prints the same p; 1.0 when nothing differs.

    >>> paired_permutation_p({"q1": 0.1, "q2": 0.2}, {"q1": 0.1, "q2": 0.2})
    1.0
    """
    diffs = [b[q] - a[q] for q in a if q in b]
    if not diffs or all(d == 0 for d in diffs):
        return 1.0
    observed = abs(sum(diffs))
    rng = random.Random(seed)
    extreme = 0
    for _ in range(rounds):
        total = sum(d if rng.random() < 0.5 else -d for d in diffs)
        if abs(total) >= observed - 1e-12:
            extreme += 1
    return (extreme + 1) / (rounds + 1)


def paired_t_p(a: Mapping[str, float], b: Mapping[str, float]) -> float | None:
    """Two-sided paired t-test p-value (scipy), or None without scipy or variation."""
    try:
        from scipy import stats
    except ImportError:  # pragma: no cover - scipy is optional
        return None
    shared = [q for q in a if q in b]
    diffs = [b[q] - a[q] for q in shared]
    if len(diffs) < 2 or statistics.pstdev(diffs) == 0:
        return None
    return float(stats.ttest_rel([b[q] for q in shared], [a[q] for q in shared]).pvalue)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both cost (lower) and quality
    (higher), cheapest first.

    >>> pareto_front([(0, 0.50), (100, 0.55), (200, 0.54), (300, 0.60)])
    [0, 1, 3]
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front
