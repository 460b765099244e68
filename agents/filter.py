"""filter: LLM judges decide which reranked passages generate may use (MAIN-RAG).

Each judge is the pointwise relevance judge (`rankgraph.rerank.pointwise`) with
a yes/no prompt, so P(Yes) here means what it means in reranking; scores the
reranker already produced for the same prompt and query are reused, never asked
again. Scores are pooled across judges (mean, or a majority vote of per-judge
decisions); the keep threshold is fixed or adapts per query as τ = mean − n·σ,
so an easy query keeps many passages and a hard one few, and `min_score` is an
absolute floor. With `skip_if_confident`, the first judge (the reranker's, when
its scores are known) decides alone when it is sure of every passage, and the
trace says so. The node also writes the corrective feedback the router acts on.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Sequence
from typing import Any

from langgraph.runtime import Runtime

from rankgraph.agents.deps import Deps
from rankgraph.agents.passages import ids
from rankgraph.agents.state import RAGState, judge_key
from rankgraph.errors import LLMUnavailable
from rankgraph.pipeline_config import FilterConfig, PipelineConfig
from rankgraph.rerank.pointwise import PointwiseConfig, PointwiseReranker
from rankgraph.schema import Passage
from rankgraph.trace import TraceEvent, step

_TOLERANCE = 1e-9


def adaptive_threshold(scores: Sequence[float], n_sigma: float) -> float:
    """τ = mean − n·σ (population σ); with no scores, 0.

    >>> round(adaptive_threshold([0.2, 0.4, 0.6, 0.8], 1.0), 4)  # mean 0.5, σ ≈ 0.2236
    0.2764
    """
    if not scores:
        return 0.0
    return statistics.fmean(scores) - n_sigma * statistics.pstdev(scores)


def threshold(scores: Sequence[float], config: FilterConfig) -> float:
    if config.mode == "adaptive":
        return adaptive_threshold(scores, config.n_sigma)
    return config.threshold


def passes(scores: Sequence[float], tau: float) -> list[bool]:
    return [s >= tau - _TOLERANCE for s in scores]


def pool(
    per_judge: Sequence[Sequence[float]], config: FilterConfig
) -> tuple[list[float], list[bool], float]:
    """Consensus over judges: (pooled scores, pass mask, τ of the pooled scores).

    `mean` thresholds the mean score; `majority` keeps a passage when more than
    half of the judges pass it under their own threshold.
    """
    pooled = [statistics.fmean(col) for col in zip(*per_judge, strict=True)]
    tau = threshold(pooled, config)
    if config.consensus == "mean" or len(per_judge) == 1:
        return pooled, passes(pooled, tau), tau
    votes = [passes(scores, threshold(scores, config)) for scores in per_judge]
    mask = [sum(col) * 2 > len(per_judge) for col in zip(*votes, strict=True)]
    return pooled, mask, tau


def select(
    passages: Sequence[Passage],
    scores: Sequence[float],
    mask: Sequence[bool],
    keep_at_least: int,
    min_score: float = 0.0,
) -> tuple[list[Passage], int]:
    """Passages that passed, in rank order, padded with the best-scored rejects;
    nothing scored under `min_score` is kept either way.

    Returns (kept, how many passed on merit).

    >>> ps = [Passage(id=i, text="") for i in "abc"]
    >>> [p.id for p in select(ps, [0.9, 0.2, 0.5], [True, False, False], 2)[0]]
    ['a', 'c']
    >>> select(ps, [0.1, 0.2, 0.05], [True, True, False], 1, min_score=0.3)
    ([], 0)
    """
    floor = min_score - _TOLERANCE
    passed = [i for i, ok in enumerate(mask) if ok and scores[i] >= floor]
    rejects = sorted(
        (i for i, ok in enumerate(mask) if not ok and scores[i] >= floor), key=lambda i: -scores[i]
    )
    pad = rejects[: max(0, keep_at_least - len(passed))]
    chosen = sorted(passed + pad)
    return [passages[i] for i in chosen], len(passed)


def corrective_feedback(
    state: RAGState, passed: int, config: PipelineConfig
) -> tuple[str | None, str]:
    """(why another round is needed — None when the router should go on, and the
    loop's decision in words for the trace).

    >>> cfg = PipelineConfig()
    >>> corrective_feedback({"rounds": 1}, 3, cfg)[1]
    'skip: 3 passage(s) passed, min_passages=1'
    """
    rounds = state.get("rounds", 1)
    if passed >= config.loop.min_passages:
        return None, f"skip: {passed} passage(s) passed, min_passages={config.loop.min_passages}"
    if rounds >= config.loop.max_rounds:
        return None, f"stop: round {rounds} of max_rounds={config.loop.max_rounds}"
    if config.rewrite.mode == "off":  # the same queries would find the same passages
        return None, "skip: rewrite is off, another search would find the same passages"
    titles = [p.title or p.id for p in state.get("reranked", [])[:3]]
    feedback = (
        f"round {rounds} searched for {state.get('queries', [])!r}; only {passed} passage(s) "
        f"were judged relevant (top results: {', '.join(titles) or 'none'})"
    )
    return feedback, f"another round: only {passed} passage(s) passed"


def confident_skip(order: Sequence[str], first: Sequence[float], config: FilterConfig) -> str:
    """Why the judges after the first are not asked ("" when they are): the first
    judge is sure of every passage, so more votes would rarely change the decision
    and would cost a call per passage each.

    >>> cfg = FilterConfig(judges=["answers", "relevant"], skip_if_confident=0.9)
    >>> confident_skip(["answers", "relevant"], [0.97, 0.02], cfg)
    "judge 'answers' is confident on every passage (P(Yes) >= 0.9 or <= 0.1): 'relevant' not asked"
    >>> confident_skip(["answers", "relevant"], [0.97, 0.4], cfg)
    ''
    """
    bar = config.skip_if_confident
    if not all(s >= bar or s <= 1 - bar for s in first):
        return ""
    others = ", ".join(repr(j) for j in order[1:])
    return (
        f"judge {order[0]!r} is confident on every passage "
        f"(P(Yes) >= {bar:g} or <= {1 - bar:g}): {others} not asked"
    )


async def _scores(
    deps: Deps, judge: str, question: str, passages: list[Passage], known: dict[str, float]
) -> tuple[dict[str, float], list[TraceEvent]]:
    """One judge's P(Yes) for every passage: known scores reused, the rest asked."""
    todo = [p for p in passages if p.id not in known]
    if not todo:
        return known, []
    config = PointwiseConfig(judge=judge, fusion="none", max_words=deps.config.filter.max_words)
    result = await PointwiseReranker(deps.judge, config).rerank(question, todo)
    events = [e.model_copy(update={"node": "filter"}) for e in result.events]
    if result.failures or result.relevance is None or len(result.relevance) < len(todo):
        cause = result.first_error()
        raise LLMUnavailable(
            f"filter judge {judge!r}: {result.failures} of {len(todo)} calls failed"
            + (f" ({cause})" if cause else "")
        )
    return {**known, **result.relevance}, events


async def filter_node(state: RAGState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    config = deps.config.filter
    reranked = state.get("reranked", [])
    if config.mode == "off" or not reranked:
        feedback, loop = corrective_feedback(state, len(reranked), deps.config)
        event = step("filter", method="off", kept=ids(reranked), feedback=feedback, loop=loop)
        return {
            "kept": reranked,
            "passed": len(reranked),
            "scores": [],
            "feedback": feedback,
            "notes": [],
            "trace": [event],
        }
    question = state.get("standalone") or state["question"]
    judged = dict(state.get("judged", {}))
    keys = {j: judge_key(PointwiseConfig(judge=j).prompt, question) for j in config.judges}
    known = {j: judged.get(key, {}) for j, key in keys.items()}
    reusable = {j: sum(p.id in known[j] for p in reranked) for j in config.judges}
    reused = sum(reusable.values())
    # the judge with the most scores already known goes first: it may settle the question
    order = sorted(config.judges, key=lambda j: -reusable[j])
    results, skipped = [], ""
    if config.skip_if_confident and len(order) > 1:  # the rest wait for the first's verdict
        results.append(await _scores(deps, order[0], question, reranked, known[order[0]]))
        skipped = confident_skip(order, [results[0][0][p.id] for p in reranked], config)
    rest = [] if skipped else order[len(results) :]
    results += await asyncio.gather(*(_scores(deps, j, question, reranked, known[j]) for j in rest))
    asked = order[: len(results)]  # all of them, unless the first decided alone
    for judge, (scored, _) in zip(asked, results, strict=True):
        judged[keys[judge]] = scored
    per_judge = [[scored[p.id] for p in reranked] for scored, _ in results]
    scores, mask, tau = pool(per_judge, config)
    kept, passed = select(reranked, scores, mask, config.keep_at_least, config.min_score)
    feedback, loop = corrective_feedback(state, passed, deps.config)
    decision = step(
        "filter",
        method=config.mode,
        tau=tau,
        min_score=config.min_score,
        scores=dict(zip(ids(reranked), scores, strict=True)),
        kept=ids(kept),
        passed=passed,
        reused=reused,
        judges=asked,
        skip=skipped or None,
        feedback=feedback,
        loop=loop,
    )
    return {
        "kept": kept,
        "passed": passed,
        "scores": scores,
        "judged": judged,
        "feedback": feedback,
        "notes": [],
        "trace": [*(e for _, events in results for e in events), decision],
    }
