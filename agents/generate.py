"""generate: the cited answer, grounded only in the kept passages, streamed.

Two streams leave this node: `token` events, the model's raw draft as it is
generated, and `checked` events, the answer a sentence at a time as the citation
check leaves it (`CheckedStream`). Only the second is what the answer will say: it
holds back until a sentence keeps a citation, and it ends in the abstention when
none does, so a UI that shows it never shows a draft that is then replaced.

With `samples = N`, N more answers are sampled in one call beside the greedy one
and a vote (`agents/vote.py`) picks the final answer; the checked stream then waits
for the vote, and the draft tokens are the greedy answer's.

Passages are fenced as data; `[n]` markers are mapped back to passage ids; a
reply with no valid citation (when citations are required) or the model's own
"I don't know" is an abstention — a measured outcome, not a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from langgraph.runtime import Runtime

from rankgraph.agents.answer import Citation
from rankgraph.agents.attribution import CheckedStream, cited_numbers, declines
from rankgraph.agents.deps import Deps
from rankgraph.agents.state import RAGState, reader_question
from rankgraph.agents.vote import vote
from rankgraph.prompts import load_prompt
from rankgraph.prompts.passages import defuse, fenced_list, masked
from rankgraph.schema import Passage
from rankgraph.trace import step

ABSTAIN = "I don't know: the documents do not contain the answer."


def parse_citations(
    text: str, kept: list[Passage], quoted: Collection[int] = ()
) -> tuple[list[Citation], list[str]]:
    """Citations in order of first mention, and repairs for numbers with no passage;
    `quoted` are the passages whose own words the answer quotes.

    >>> ps = [Passage(id="x", text=""), Passage(id="y", text="")]
    >>> cites, bad = parse_citations("A [2]. B [1, 2] [7].", ps)
    >>> [(c.n, c.passage_id) for c in cites], bad
    ([(2, 'y'), (1, 'x')], ['dropped citation [7]: only 2 passages'])
    """
    citations: list[Citation] = []
    repairs: list[str] = []
    seen: set[int] = set()
    for n in cited_numbers(text):
        if not 1 <= n <= len(kept):
            repairs.append(f"dropped citation [{n}]: only {len(kept)} passages")
        elif n not in seen:
            seen.add(n)
            p = kept[n - 1]
            # a document's own URL (a JSONL `url` field) says more than the file it came in
            source = p.metadata.get("url") or p.source
            doc_id = p.metadata.get("doc_id")
            citations.append(
                Citation(
                    n=n,
                    passage_id=p.id,
                    title=p.title,
                    source=source,
                    doc_id=None if doc_id is None else str(doc_id),
                    quoted=n in quoted,
                )
            )
    return citations, repairs


def render(state: RAGState, deps: Deps) -> tuple[list[dict[str, str]], int]:
    """The answer prompt of the configured style; returns (messages, sentences masked)."""
    config = deps.config.generate
    kept = state.get("kept", [])
    words = config.max_passage_words
    block = fenced_list(kept, [str(n) for n in range(1, len(kept) + 1)], words)
    notes = state.get("notes", [])
    notes_block = (
        "\nReading notes (also data):\n"
        + "\n".join(f"[{i}] {defuse(n)}" for i, n in enumerate(notes, start=1))
        + "\n"
        if notes
        else ""
    )
    messages = load_prompt(f"generate_{config.style}").render(
        passages=block,
        notes=notes_block,
        question=reader_question(state),
        abstain=ABSTAIN,
    )
    return messages, masked(kept, words)


def _turns(question: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


async def generate_node(state: RAGState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = runtime.context
    writer = runtime.stream_writer
    kept = state.get("kept", [])
    question = state["question"]
    if not kept:
        writer({"type": "token", "node": "generate", "text": ABSTAIN})
        writer({"type": "checked", "node": "generate", "text": ABSTAIN})
        return {
            "answer": ABSTAIN,
            "citations": [],
            "abstained": True,
            "abstain_reason": "no_passages",
            "history": _turns(question, ABSTAIN),
            "trace": [step("generate", method="abstain", reason="no passages survived")],
        }
    messages, masked = render(state, deps)
    config = deps.config.generate
    voting = config.samples > 0

    def checked() -> CheckedStream:
        min_support = config.min_support if config.check_citations else None
        return CheckedStream(
            kept,
            min_support=min_support,
            question=reader_question(state),
            hold_until_cited=config.require_citations,
        )

    stream, shown = checked(), ""

    def show(text: str) -> None:
        nonlocal shown
        if text:
            shown += text
            writer({"type": "checked", "node": "generate", "text": text})

    def on_delta(text: str) -> None:
        writer({"type": "token", "node": "generate", "text": text})
        released = stream.feed(text)
        if not voting:  # with a vote, nothing is shown before the vote has chosen
            show(released)

    greedy = deps.client.complete(messages, max_tokens=config.max_tokens, on_delta=on_delta)
    if voting:
        sampling = deps.client.complete(
            messages,
            max_tokens=config.max_tokens,
            temperature=config.sample_temperature,
            n=config.samples,
        )  # unseeded on purpose (the client takes no seed; see LLMClient.complete); the
        # LLM cache is what replays a run
        calls = [asyncio.ensure_future(greedy), asyncio.ensure_future(sampling)]
        try:
            completion, sampled = await asyncio.gather(*calls)
        except BaseException:  # one failed: the other's answer would be thrown away
            for call in calls:
                call.cancel()
            raise
    else:
        completion, sampled = await greedy, None
    if not completion.text.startswith(stream.fed):  # a streamed attempt failed, was retried
        stream = checked()
    stream.feed(completion.text[len(stream.fed) :])
    stream.close()
    draft = _draft(stream, kept, config.require_citations)
    events = [
        completion.event("generate", "cited").with_outcome(
            parsed=draft.outcome, repairs=draft.repairs, masked_sentences=masked
        )
    ]
    if sampled is not None:
        drafts = [draft]
        for text in sampled.texts or (sampled.text,):
            other = checked()
            other.feed(text)
            other.close()
            drafts.append(_draft(other, kept, config.require_citations))
        ballot = vote([None if d.reason else d.text for d in drafts])
        draft = (
            drafts[ballot.chosen]
            if ballot.chosen is not None
            else Draft(ABSTAIN, [], [], "vote_abstained")
        )
        events.append(
            sampled.event("generate", "vote").with_outcome(
                parsed={**draft.outcome, "chosen": ballot.chosen},
                repairs=draft.repairs,
                answers=[d.answer for d in drafts],  # the greedy one first
                agreement=[round(a, 3) for a in ballot.agreement],
            )
        )
    answer = draft.answer
    if answer.startswith(shown):
        show(answer[len(shown) :])
    else:  # only after a retried stream had already shown part of its text
        note = "the streamed answer was cut by a retried call; the answer is complete"
        events[-1] = events[-1].with_outcome(parsed=events[-1].parsed, repairs=[note])
    return {
        "answer": answer,
        "citations": draft.citations,
        "abstained": draft.reason is not None,
        "abstain_reason": draft.reason,
        "history": _turns(question, answer),
        "trace": events,
    }


@dataclass(frozen=True)
class Draft:
    """One reply after the citation check, and what it makes of the answer."""

    text: str
    citations: list[Citation]
    repairs: list[str]
    reason: str | None  # why it abstains; None when it answers

    @property
    def answer(self) -> str:
        return ABSTAIN if self.reason in ("uncited", "vote_abstained") else self.text

    @property
    def outcome(self) -> dict[str, Any]:
        cited = [c.model_dump() for c in self.citations]
        return {"citations": cited, "abstain_reason": self.reason}


def _draft(stream: CheckedStream, kept: list[Passage], require_citations: bool) -> Draft:
    text = stream.text
    citations, repairs = parse_citations(text, kept, stream.quoted)
    reason: str | None = None
    if not citations and declines(text):
        reason = "model_declined"
    elif not citations and require_citations:
        reason = "uncited"
    return Draft(text, citations, [*stream.repairs, *repairs], reason)
