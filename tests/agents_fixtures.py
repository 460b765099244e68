"""Fakes for the agent-graph unit tests: a scripted LLM client, a keyword
retriever and an identity reranker. The real engine is covered in
test_pipeline_engine.py; these pin the graph's logic and routing."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from rankgraph.agents import Deps, PipelineConfig
from rankgraph.errors import ParseError
from rankgraph.llm.completion import Completion, LabelLogprobs, TokenLogprob, emit_delta
from rankgraph.rerank.base import Budget, RerankResult
from rankgraph.schema import Passage
from rankgraph.trace import Usage

Messages = list[dict[str, Any]]


def completion(
    text: str,
    messages: Messages,
    *,
    top: dict[str, float] | None = None,
    finish_reason: str = "stop",
) -> Completion:
    logprobs = (TokenLogprob(token="x", logprob=0.0, top=top),) if top is not None else ()
    return Completion(
        text=text,
        reasoning=None,
        finish_reason=finish_reason,
        usage=Usage(calls=1, prompt_tokens=10, completion_tokens=len(text.split()) or 1),
        model="fake",
        base_url="fake://",
        messages=messages,
        request={},
        logprobs=logprobs,
        texts=(text,),
    )


def prompt_text(messages: Messages) -> str:
    return "\n".join(m["content"] for m in messages)


@dataclass
class FakeClient:
    """Scripted replies. `p_yes(messages)` gives the judge's P(Yes); `rewrite_cut` is
    a rewrite reply the token limit stopped, which the real client cannot parse."""

    answer: str = "Rankgraph is a framework [1]."
    rewrite: dict[str, Any] = field(default_factory=lambda: {"standalone": "rewritten question"})
    rewrite_cut: str | None = None
    p_yes: Callable[[Messages], float] = lambda _m: 0.9
    note: str = "Says what rankgraph is."
    calls: list[tuple[str, Messages]] = field(default_factory=list)

    async def model(self) -> str:
        return "fake"

    async def structured(
        self, messages: Messages, schema: type[BaseModel], **_: Any
    ) -> tuple[BaseModel, Completion]:
        self.calls.append(("structured", messages))
        if self.rewrite_cut is not None:
            cut = completion(self.rewrite_cut, messages, finish_reason="length")
            raise ParseError(f"reply does not match {schema.__name__}", completion=cut)
        reply = {k: v for k, v in self.rewrite.items() if k in schema.model_fields}
        return schema.model_validate(reply), completion(str(reply), messages)

    async def label_logprobs(
        self, messages: Messages, labels: Sequence[str], **kw: Any
    ) -> LabelLogprobs:
        return LabelLogprobs.read(await self.complete(messages, top_logprobs=20), labels)

    async def think_then_answer(self, messages: Messages, **kw: Any) -> Completion:
        return await self.complete(messages, **kw)

    async def complete(
        self,
        messages: Messages,
        *,
        top_logprobs: int = 0,
        on_delta: Callable[[str], Any] | None = None,
        **_: Any,
    ) -> Completion:
        if top_logprobs:  # a relevance judge reading Yes/No from the first token
            self.calls.append(("judge", messages))
            p = min(max(self.p_yes(messages), 1e-6), 1 - 1e-6)
            top = {"Yes": math.log(p), "No": math.log(1 - p)}
            return completion("Yes", messages, top=top)
        is_note = "reading note" in messages[0]["content"]
        self.calls.append(("note" if is_note else "generate", messages))
        text = self.note if is_note else self.answer
        if on_delta is not None:
            for word in text.split(" "):
                await emit_delta(on_delta, word + " ")  # sync or async, as LLMClient takes
        return completion(text, messages)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


@dataclass
class KeywordRetriever:
    """Ranks passages by words shared with any query; records what it was asked."""

    passages: list[Passage]
    asked: list[list[str]] = field(default_factory=list)

    async def asearch_many(
        self, queries: Sequence[str], *, k: int = 20, mode: Any = None, where: Any = None
    ) -> list[Passage]:
        self.asked.append(list(queries))
        words = {w.strip("?.,").lower() for q in queries for w in q.split()}

        def overlap(p: Passage) -> int:
            return len(words & {w.strip("?.,").lower() for w in f"{p.title} {p.text}".split()})

        hits = [p for p in sorted(self.passages, key=overlap, reverse=True) if overlap(p)]
        return hits[:k]


@dataclass
class IdentityReranker:
    name: str = "none"

    async def rerank(
        self,
        query: str,
        passages: Sequence[Passage],
        *,
        top_k: int | None = None,
        budget: Budget | None = None,
    ) -> RerankResult:
        return RerankResult(
            query=query, method=self.name, passages=list(passages), order=list(range(len(passages)))
        )


CORPUS = [
    Passage(id="d1", title="Rankgraph", text="Rankgraph is a framework for cited answers."),
    Passage(id="d2", title="Listwise", text="Listwise reranking orders passages in windows."),
    Passage(id="d3", title="Engine", text="The engine serves a small model with vLLM."),
]


def deps(
    client: FakeClient | None = None, corpus: list[Passage] | None = None, **config: Any
) -> Deps:
    return Deps(
        client=client or FakeClient(),
        retriever=KeywordRetriever(list(corpus or CORPUS)),
        reranker=IdentityReranker(),
        config=PipelineConfig.model_validate(config),
    )
