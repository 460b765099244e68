"""filter: LLM judges decide which reranked passages generate may use (MAIN-RAG).

Each judge prompt gives P(Yes) for "is this passage relevant?" from the first
token's logprobs. Scores are pooled across judges (mean, or a majority vote of
per-judge decisions); the keep threshold is fixed or adapts per query as
τ = mean − n·σ, so an easy query keeps many passages and a hard one few.
The node also writes the corrective feedback the router acts on.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Sequence
from typing import Any

from langgraph.runtime import Runtime

from rankgraph.agents.config import FilterConfig, PipelineConfig
from rankgraph.agents.deps import Deps
from rankgraph.agents.passages import ids, one
from rankgraph.agents.state import RAGState
from rankgraph.prompts import load_prompt
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
    passages: Sequence[Passage], scores: Sequence[float], mask: Sequence[bool], keep_at_least: int
) -> tuple[list[Passage], int]:
    """Passages that passed, in rank order, padded with the best-scored rejects.

    Returns (kept, how many passed on merit).
    """
    passed = [i for i, ok in enumerate(mask) if ok]
    rejects = sorted((i for i, ok in enumerate(mask) if not ok), key=lambda i: -scores[i])
    pad = rejects[: max(0, keep_at_least - len(passed))]
    chosen = sorted(passed + pad)
    return [passages[i] for i in chosen], len(passed)


def corrective_feedback(state: RAGState, passed: int, config: PipelineConfig) -> str | None:
    """Why another round is needed, or None when the router should go on."""
    rounds = state.get("rounds", 1)
    if passed >= config.loop.min_passages or rounds >= config.loop.max_rounds:
        return None
    if config.rewrite.mode == "off":  # the same queries would find the same passages
        return None
    titles = [p.title or p.id for p in state.get("reranked", [])[:3]]
    return (
        f"round {rounds} searched for {state.get('queries', [])!r}; only {passed} passage(s) "
        f"were judged relevant (top results: {', '.join(titles) or 'none'})"
    )


async def _judge(
    deps: Deps, judge: str, question: str, passage: Passage
) -> tuple[float, TraceEvent]:
    messages = load_prompt(judge).render(question=question, passage=one(passage))
    labels = await deps.client.label_logprobs(messages, ["Yes", "No"])
    p_yes = labels.probabilities()["Yes"]
    repairs = [] if labels.seen else ["neither Yes nor No among the top tokens: P(Yes)=0.5"]
    event = labels.completion.event("filter", judge).with_outcome(
        parsed=p_yes, repairs=repairs, passage_id=passage.id
    )
    return p_yes, event


async def filter_node(state: RAGState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    config = deps.config.filter
    reranked = state.get("reranked", [])
    if config.mode == "off" or not reranked:
        feedback = corrective_feedback(state, len(reranked), deps.config)
        event = step("filter", method="off", kept=ids(reranked), feedback=feedback)
        return {
            "kept": reranked,
            "passed": len(reranked),
            "scores": [],
            "feedback": feedback,
            "notes": [],
            "trace": [event],
        }
    question = state.get("standalone") or state["question"]
    results = await asyncio.gather(
        *(_judge(deps, judge, question, p) for judge in config.judges for p in reranked)
    )
    n = len(reranked)
    per_judge = [[s for s, _ in results[j * n : (j + 1) * n]] for j in range(len(config.judges))]
    scores, mask, tau = pool(per_judge, config)
    kept, passed = select(reranked, scores, mask, config.keep_at_least)
    feedback = corrective_feedback(state, passed, deps.config)
    decision = step(
        "filter",
        method=config.mode,
        tau=tau,
        scores=dict(zip(ids(reranked), scores, strict=True)),
        kept=ids(kept),
        passed=passed,
        feedback=feedback,
    )
    return {
        "kept": kept,
        "passed": passed,
        "scores": scores,
        "feedback": feedback,
        "notes": [],
        "trace": [*(e for _, e in results), decision],
    }
