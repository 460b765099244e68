"""Setwise reranking (Zhuang et al.): heap sort where each step picks the best of c passages.

"Which of these c passages answers best?" is read from the label token's
logprobs; the heap (fan-out c−1) settles the top-k and stops, so a query costs
far fewer calls than pairwise at similar quality. Passages outside the settled
top-k keep their input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rankgraph.llm.labels import TOP_LOGPROBS, label_logprobs, letters, softmax, unseen
from rankgraph.llm.protocol import ChatClient
from rankgraph.prompts import load_prompt
from rankgraph.prompts.passages import fenced_list
from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.rerank.fusion import FusionMode
from rankgraph.rerank.heap import heap_top_k
from rankgraph.rerank.options import between, fusion_options
from rankgraph.rerank.run import QueryRun
from rankgraph.schema import Passage


@dataclass(frozen=True)
class SetwiseConfig:
    set_size: int = 4  # c: the parent and c−1 children compared in one call
    k: int = 10  # passages to settle when rerank() gets no top_k
    max_words: int = 100
    fusion: FusionMode = "none"
    fusion_weight: float = 0.5

    def __post_init__(self) -> None:
        between("setwise", "set_size", self.set_size, 2, TOP_LOGPROBS)
        between("setwise", "k", self.k, 1, 10_000)
        fusion_options("setwise", self.fusion, self.fusion_weight)


class SetwiseReranker:
    """Heap sort over sets of c candidates, selection by label logprob."""

    name = "setwise"

    def __init__(self, client: ChatClient, config: SetwiseConfig | None = None) -> None:
        self.client = client
        self.config = config or SetwiseConfig()

    async def rerank(
        self,
        query: str,
        passages: Sequence[Passage],
        *,
        top_k: int | None = None,
        budget: Budget | None = None,
    ) -> RerankResult:
        cfg = self.config
        run = QueryRun(self.client, self.name, budget)

        async def best_of(group: list[int]) -> int | None:
            return await self._select(run, query, [passages[i] for i in group])

        order = await heap_top_k(
            range(len(passages)), top_k or cfg.k, best_of, cfg.set_size - 1, lambda: run.exhausted
        )
        return run.result(
            query, passages, order, fusion=cfg.fusion, fusion_weight=cfg.fusion_weight
        )

    async def _select(self, run: QueryRun, query: str, group: Sequence[Passage]) -> int | None:
        """Position of the best passage in `group`; None keeps the heap's parent."""
        ids = letters(len(group))
        messages = load_prompt("rerank_setwise").render(
            query=query,
            passages=fenced_list(group, ids, self.config.max_words),
            choices=", ".join(ids[:-1]) + " or " + ids[-1],
        )
        completion = await run.complete(messages, max_tokens=1, top_logprobs=TOP_LOGPROBS)
        if completion is None:
            return None
        logprobs = label_logprobs(completion.logprobs[0].top, ids)
        repairs: list[str] = []
        pick: int | None
        if len(unseen(logprobs)) == len(ids):
            token = completion.logprobs[0].token
            repairs.append(f"no label among the top tokens (first {token!r}); parent kept")
            pick = None
        else:
            probabilities = softmax(logprobs)
            pick = max(range(len(ids)), key=lambda i: (probabilities[ids[i]], -i))
        run.record(
            completion,
            parsed=ids[pick] if pick is not None else None,
            repairs=repairs,
            passage_ids=[p.id for p in group],
            label_probabilities={k: round(v, 6) for k, v in softmax(logprobs).items()},
        )
        return pick
