"""rewrite: turn the user's question (plus chat history and corrective feedback)
into the set of retrieval queries.

Decontextualisation resolves follow-ups ("and when was he born?"), decomposition
splits multi-hop questions, HyDE adds a hypothetical answer passage. Rewrites
drift from the user's intent, so the question as asked stays in the set, except
for a chat follow-up: its own words miss what it refers to, and searched beside
the rewrite they crowded the answer out of the top 5 (answer-document recall@5 on
60 dev follow-ups, 0.917 for the rewrite alone, 0.733 with the question as asked;
docs/benchmarks.md, session 19).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pydantic_core
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, create_model

from rankgraph.agents.attribution import strip_citations
from rankgraph.agents.deps import Deps
from rankgraph.agents.state import RAGState, Turn, query_key
from rankgraph.errors import ParseError
from rankgraph.llm.completion import Completion
from rankgraph.pipeline_config import RewriteConfig
from rankgraph.prompts import load_prompt
from rankgraph.trace import step

MAX_QUERY_CHARS = 500

_FIELDS: dict[str, tuple[Any, str]] = {
    "standalone": (
        str,
        "the question rewritten so it can be understood without the conversation, "
        "keeping every name, date and constraint",
    ),
    "sub_questions": (
        list[str],
        "simpler questions whose answers together answer it; [] if it is already simple",
    ),
    "hypothetical_answer": (
        str,
        "a short passage, as an encyclopedia would write it, that would answer the question",
    ),
}


@cache
def reply_model(decompose: bool, expand: bool) -> type[BaseModel]:
    """The JSON schema the LLM must fill: only the fields this config asks for."""
    wanted = ["standalone"] + ["sub_questions"] * decompose + ["hypothetical_answer"] * expand
    fields: dict[str, Any] = {
        name: (_FIELDS[name][0], Field(description=_FIELDS[name][1])) for name in wanted
    }
    return create_model("RewriteReply", **fields)


def needs_llm(config: RewriteConfig, history: list[Turn], feedback: str | None) -> bool:
    """Whether a rewrite call would change anything (saves a call on plain first questions)."""
    if config.mode == "off":
        return False
    if config.mode == "always":
        return True
    return (
        bool(history and config.history_turns)
        or bool(feedback)
        or config.decompose
        or (config.expand)
    )


def merge_queries(question: str, *candidates: str) -> list[str]:
    """The question first, then each distinct non-empty rewrite, capped in length.

    >>> merge_queries("who?", "Who is X?", "who?", " ", "Who is X?")
    ['who?', 'Who is X?']
    """
    out: list[str] = []
    seen: set[str] = set()
    for query in (question, *candidates):
        query = " ".join(query.split())[:MAX_QUERY_CHARS]
        key = query_key(query)
        if query and key not in seen:
            seen.add(key)
            out.append(query)
    return out


def salvage(text: str) -> dict[str, Any]:
    """What a reply cut off by the token limit still says: every value it finished,
    and the hypothetical passage even when it stops mid-sentence (as a search query
    the part written serves as well as the whole, which is capped anyway).

    The JSON schema puts `hypothetical_answer` last, so it is the field a long
    reply runs out in; a cut `standalone` is dropped rather than searched for.

    >>> salvage('{"standalone": "Who won?", "hypothetical_answer": "The winner was Y, who')
    {'standalone': 'Who won?', 'hypothetical_answer': 'The winner was Y, who'}
    >>> salvage('{"standalone": "Who w')
    {}
    """
    try:
        done = pydantic_core.from_json(text, allow_partial=True)
        cut = pydantic_core.from_json(text, allow_partial="trailing-strings")
    except ValueError:
        return {}
    if not isinstance(done, dict) or not isinstance(cut, dict):
        return {}
    passage = cut.get("hypothetical_answer")
    return {**done, "hypothetical_answer": passage} if isinstance(passage, str) else done


def format_history(history: list[Turn], turns: int) -> str:
    """The last `turns` exchanges, a line each, without the answers' citation marks.

    >>> format_history([{"role": "user", "content": "Who?"},
    ...                 {"role": "assistant", "content": "Ada Lovelace [1]."}], 3)
    'User: Who?\\nAssistant: Ada Lovelace.'
    """
    recent = history[-2 * turns :] if turns else []
    if not recent:
        return "(none)"
    return "\n".join(
        f"{t['role'].capitalize()}: {strip_citations(t['content'])[:600]}" for t in recent
    )


def with_last_exchange(question: str, history: list[Turn]) -> str:
    """The last exchange and the question as one search, where a follow-up's rewrite
    failed: "when was he born?" names nobody, the exchange before it does. Searched
    beside the question as asked, which keeps a new topic findable (answer-document
    recall@5 on 60 held-out follow-ups 0.900 against 0.567 for the question alone;
    on 60 questions after an unrelated conversation 1.000 against 0.983;
    docs/benchmarks.md, session 21). "" without history.

    >>> with_last_exchange("When was he born?", [{"role": "user", "content": "Who?"},
    ...     {"role": "assistant", "content": "Ada Lovelace [1]."}])
    'Who? Ada Lovelace. When was he born?'
    """
    if not history:
        return ""
    return " ".join([*(strip_citations(t["content"]) for t in history[-2:]), question])


def render(config: RewriteConfig, state: RAGState) -> list[dict[str, str]]:
    model = reply_model(config.decompose, config.expand)
    fields = "\n".join(
        f'- "{name}": {info.description}'
        + (f" (at most {config.max_sub_questions})" if name == "sub_questions" else "")
        for name, info in model.model_fields.items()
    )
    feedback = state.get("feedback")
    note = (
        f"\nA previous search did not find enough: {feedback}\n"
        "Make the standalone question a different search: other words, synonyms, "
        "the key entity spelled out.\n"
        if feedback
        else ""
    )
    return load_prompt("rewrite").render(
        history=format_history(state.get("history", []), config.history_turns),
        question=state["question"],
        feedback=note,
        fields=fields,
    )


async def rewrite_node(state: RAGState, runtime: Runtime[Deps]) -> dict[str, Any]:
    config = runtime.context.config.rewrite
    question = state["question"]
    feedback = state.get("feedback")
    if not needs_llm(config, state.get("history", []), feedback):
        queries = merge_queries(question)
        return {
            "standalone": question,
            "queries": queries,
            "trace": [step("rewrite", method="skip", queries=queries)],
        }
    messages = render(config, state)
    follow_up = bool(state.get("history") and config.history_turns)
    model = reply_model(config.decompose, config.expand)
    client = runtime.context.client
    try:
        reply, completion = await client.structured(messages, model, max_tokens=config.max_tokens)
    except ParseError as exc:
        if config.on_parse_error == "raise":
            raise
        cut = (
            exc.completion if exc.completion and exc.completion.finish_reason == "length" else None
        )
        parsed = _valid(salvage(cut.text), model) if cut else {}
        if cut is None or not parsed:
            history = state.get("history", []) if follow_up else []
            queries = merge_queries(
                question, with_last_exchange(question, history), state.get("standalone", "")
            )
            kept = "the question and the last exchange with it" if history else "the question"
            call = exc.completion.event("rewrite", "llm") if exc.completion else step("rewrite")
            event = call.with_outcome(
                repairs=[f"kept {kept}: reply did not parse"], queries=queries
            ).model_copy(update={"error": str(exc)})
            return {"queries": queries, "trace": [event]}
        repair = (
            f"reply cut at max_tokens={config.max_tokens}: kept what it finished "
            f"({', '.join(parsed)})"
        )
        return _rewritten(question, parsed, cut, config, feedback, [repair], follow_up)
    return _rewritten(question, reply.model_dump(), completion, config, feedback, [], follow_up)


def _valid(parsed: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """The salvaged fields the schema asks for, each of its type (a cut reply was
    never validated as a whole)."""
    out: dict[str, Any] = {}
    for name in model.model_fields:
        try:
            out[name] = TypeAdapter(_FIELDS[name][0]).validate_python(parsed[name])
        except (KeyError, ValidationError):
            continue
    return out


def _rewritten(
    question: str,
    parsed: dict[str, Any],
    completion: Completion,
    config: RewriteConfig,
    feedback: str | None,
    repairs: list[str],
    follow_up: bool,
) -> dict[str, Any]:
    """The queries a parsed (or salvaged) reply asks for, and the call's trace event;
    a follow-up's own words are not among them."""
    subs: list[str] = parsed.get("sub_questions", [])
    if len(subs) > config.max_sub_questions:
        repairs = [
            *repairs,
            f"dropped {len(subs) - config.max_sub_questions} sub-questions over the limit",
        ]
    subs = subs[: config.max_sub_questions]
    standalone = " ".join(str(parsed.get("standalone", "")).split())[:MAX_QUERY_CHARS] or question
    asked = () if follow_up else (question,)
    queries = merge_queries(*asked, standalone, *subs, parsed.get("hypothetical_answer", ""))
    event = completion.event("rewrite", "llm").with_outcome(
        parsed=parsed, repairs=repairs, queries=queries, feedback=feedback
    )
    return {"standalone": standalone, "queries": queries, "trace": [event]}
