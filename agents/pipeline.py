"""Pipeline: the agent graph with its dependencies, chat memory and a small API.

    pipe = Pipeline.from_config("rankgraph.toml")
    answer = await pipe.ask("who founded the company?", thread_id="t1")
    async for event in pipe.events("and when was he born?", thread_id="t1"): ...

The Pipeline is a LangChain `Runnable[str | PipelineInput, Answer]`: `invoke`,
`ainvoke`, `batch`, `abatch`, `astream` (the answer as it is written), `astream_events`
(every node and LLM call), `|` and `with_config` work as on any runnable, and it
can be called from a node of your own LangGraph (callbacks flow through).

Chat memory lives in a LangGraph sqlite checkpoint (`data_dir/threads.sqlite`),
one thread per `thread_id`; a question without a thread id runs without memory.
The checkpointer is opened on the first async call because aiosqlite and the
saver bind to the running event loop; `invoke` keeps one private loop for that.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Required, TypedDict, cast

import aiosqlite
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import (
    ensure_config,
    get_async_callback_manager_for_config,
    patch_config,
)
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph

from rankgraph import rerank
from rankgraph.agents.answer import (
    Answer,
    Citation,
    NodeFailed,
    PipelineEvent,
    answer_from_state,
    summarize_update,
)
from rankgraph.agents.deps import Deps, SearchesMany
from rankgraph.agents.graph import build_graph
from rankgraph.agents.inputs import prepare_question
from rankgraph.agents.state import RAGState, Turn, turn_input
from rankgraph.aio import BackgroundLoop
from rankgraph.config import Settings, load_settings
from rankgraph.errors import InputError, LLMUnavailable, RankgraphError
from rankgraph.llm.client import LLMClient
from rankgraph.llm.protocol import ChatClient
from rankgraph.pipeline_config import DEFAULT_RERANK_METHOD
from rankgraph.rerank.base import Reranker
from rankgraph.schema import Passage
from rankgraph.trace import TraceEvent, Usage

_STATE_TYPES = (Passage, TraceEvent, Usage, Citation)


def settings_from(source: str | Path | dict[str, Any] | Settings | None) -> Settings:
    """A path (TOML/YAML), a settings mapping (`{"pipeline": {...}, ...}`), or Settings."""
    if isinstance(source, Settings):
        return source
    if isinstance(source, dict):
        return load_settings(None, **source)
    return load_settings(source)


class PipelineInput(TypedDict, total=False):
    """What the Runnable takes besides a plain question: the question and a thread.

    The thread id comes only from here, never from the run config's `configurable`,
    so calling the pipeline inside a graph of your own does not share its thread.
    """

    question: Required[str]
    thread_id: str | None


class Pipeline(Runnable[str | PipelineInput, Answer]):
    """Ask questions of a collection through the rewrite → … → generate graph."""

    name = "rankgraph"

    def __init__(
        self,
        deps: Deps,
        *,
        checkpoint_path: Path | None = None,
        builder: StateGraph[RAGState, Deps, RAGState, RAGState] | None = None,
        owned_clients: Sequence[LLMClient] = (),
    ) -> None:
        self.deps = deps
        self.config = deps.config
        self.builder = builder or build_graph(deps.config)
        self._plain = self.builder.compile()
        self._checkpoint_path = checkpoint_path
        self._saved: CompiledStateGraph[RAGState, Deps, RAGState, RAGState] | None = None
        self._saver: AsyncSqliteSaver | None = None
        self._saver_loop: asyncio.AbstractEventLoop | None = None
        self._open_lock: asyncio.Lock | None = None
        self._background: BackgroundLoop | None = None
        self._background_lock = threading.Lock()
        self._owned_clients = list(owned_clients)  # built by from_config: closed with it

    @classmethod
    def from_config(
        cls,
        source: str | Path | dict[str, Any] | Settings | None = None,
        *,
        client: ChatClient | None = None,
        retriever: SearchesMany | None = None,
        reranker: Reranker | None = None,
        builder: StateGraph[RAGState, Deps, RAGState, RAGState] | None = None,
    ) -> Pipeline:
        """Build the client, retriever and reranker the `[pipeline]` config names.

        Pass any of them to reuse one (tests, notebooks); the rest come from settings.
        With a `[judge]` LLM, the reranker and the filter's judges ask it, and
        everything else asks `client`.
        """
        settings = settings_from(source)
        config = settings.pipeline
        judging = settings.for_judge()
        method = rerank.method_for(
            (judging or settings).engine.kind,
            config.rerank.method,
            default=DEFAULT_RERANK_METHOD,
            **config.rerank.options,
        )
        # the method the engine can serve, resolved; its options stay as configured
        config = config.model_copy(
            update={"rerank": config.rerank.model_copy(update={"method": method})}
        )
        owned: list[LLMClient] = []
        if client is None:
            client = LLMClient.from_settings(settings)
            owned.append(client)
        judge: ChatClient | None = None
        if judging is not None:
            try:
                judge = LLMClient.from_settings(judging)
            except LLMUnavailable as exc:  # only a preset is looked up: base_urls always are
                from rankgraph.engine.discovery import start_command

                engine = judging.engine
                raise LLMUnavailable(
                    f"the judges' LLM, {engine.kind} preset {engine.preset!r}, is not running: "
                    f"start it with `{start_command(judging)}` or set RANKGRAPH_JUDGE__BASE_URLS"
                ) from exc
            owned.append(judge)
        if retriever is None:
            from rankgraph.retrieval import Retriever

            retriever = Retriever.from_settings(settings, collection=config.collection)
        if reranker is None:
            reranker = rerank.build(method, judge or client, **config.rerank.options)
        deps = Deps(
            client=client, retriever=retriever, reranker=reranker, config=config, judge_client=judge
        )
        return cls(
            deps,
            checkpoint_path=settings.data_dir / "threads.sqlite",
            builder=builder,
            owned_clients=owned,
        )

    # -- the graph -------------------------------------------------------------------

    @property
    def graph(self) -> CompiledStateGraph[RAGState, Deps, RAGState, RAGState]:
        """The compiled graph (with the checkpointer once a threaded run opened it)."""
        return self._saved or self._plain

    def mermaid(self) -> str:
        return self._plain.get_graph().draw_mermaid()

    async def _checkpointed(self) -> CompiledStateGraph[RAGState, Deps, RAGState, RAGState]:
        """The graph compiled with the sqlite saver, opened on the running loop."""
        loop = asyncio.get_running_loop()
        if self._saver_loop is not loop:
            self._saver_loop, self._open_lock = loop, asyncio.Lock()
            self._saved = self._saver = None
        assert self._open_lock is not None
        async with self._open_lock:
            if self._saved is None:
                path = self._checkpoint_path or Path("threads.sqlite")
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = await aiosqlite.connect(str(path))
                serde = JsonPlusSerializer(allowed_msgpack_modules=list(_STATE_TYPES))
                self._saver = AsyncSqliteSaver(conn, serde=serde)
                self._saved = self.builder.compile(checkpointer=self._saver)
        return self._saved

    async def history(self, thread_id: str) -> list[dict[str, str]]:
        """The turns stored for a thread (empty for a new one)."""
        graph = await self._checkpointed()
        snapshot = await graph.aget_state({"configurable": {"thread_id": thread_id}})
        return list(snapshot.values.get("history", []))

    # -- asking ----------------------------------------------------------------------

    async def events(
        self,
        question: str,
        thread_id: str | None = None,
        *,
        history: Sequence[Turn] = (),
        config: RunnableConfig | None = None,
    ) -> AsyncIterator[PipelineEvent]:
        """Node updates, warnings, the answer's draft tokens (`token`) and its checked
        text (`checked`, a sentence at a time) as they happen; the Answer last.

        `history` (earlier user/assistant turns) stands in for thread memory on a run
        without a thread id, e.g. a stateless chat API; a thread keeps its own memory.
        `config`'s callbacks, tags and metadata reach every node and LLM call.
        Raises InputError for an empty question or history given with a thread id, and
        NodeFailed (naming the node, carrying the partial trace) when a node fails.
        """
        if history and thread_id is not None:
            raise InputError("pass either a thread id (stored memory) or a history, not both")
        started = time.perf_counter()
        question, warnings = prepare_question(question, self.config.max_question_chars)
        for warning in warnings:
            yield PipelineEvent("warning", node=warning.node, text=warning.data["warning"])
        graph = await self._checkpointed() if thread_id is not None else self._plain
        # Our own `configurable` replaces a calling graph's (its checkpoint keys would
        # make this graph its subgraph); callbacks, tags and metadata are inherited.
        run_config: RunnableConfig = {
            "configurable": {"thread_id": thread_id or uuid.uuid4().hex},
            "recursion_limit": self.config.recursion_limit(),
        }
        if config is not None:
            run_config["callbacks"] = config.get("callbacks")
            run_config["tags"] = config.get("tags", [])
            run_config["metadata"] = config.get("metadata", {})
        trace: list[TraceEvent] = list(warnings)
        running: dict[str, str] = {}  # task id -> node name, for tasks not yet finished
        failed: list[str] = []  # nodes whose task finished with an error
        final: dict[str, Any] = {}
        node_ms: dict[str, float] = {}
        last = time.perf_counter()
        # With a list stream_mode, astream (v1) yields (mode, chunk) pairs; its stub types
        # each item as `dict[str, Any] | Any`, which mypy would unpack as a dict's keys.
        mode: str
        chunk: Any
        try:
            async for mode, chunk in graph.astream(
                # turn_input builds a plain dict holding exactly RAGState's per-turn keys.
                cast(RAGState, turn_input(question, warnings, history)),
                run_config,
                context=self.deps,
                stream_mode=["tasks", "updates", "custom", "values"],
            ):
                if mode == "tasks":
                    if "result" in chunk or "error" in chunk:
                        running.pop(chunk["id"], None)
                        if chunk.get("error") is not None:
                            failed.append(chunk["name"])
                    else:
                        running[chunk["id"]] = chunk["name"]
                elif mode == "updates":
                    now = time.perf_counter()
                    for node, update in chunk.items():
                        node_ms[node] = node_ms.get(node, 0.0) + (now - last) * 1000
                        update = update or {}
                        trace.extend(update.get("trace", []))
                        yield PipelineEvent(
                            "node", node=node, data=summarize_update(update), update=update
                        )
                    last = time.perf_counter()
                elif mode == "custom" and chunk.get("type") in ("token", "checked"):
                    yield PipelineEvent(chunk["type"], node=chunk.get("node"), text=chunk["text"])
                elif mode == "values":
                    final = chunk
        except RankgraphError as exc:
            node = next(iter([*failed, *running.values()]), "unknown")
            failure = TraceEvent(node=node, kind="step", error=f"{type(exc).__name__}: {exc}")
            raise NodeFailed(node, exc, [*trace, failure]) from exc
        answer = answer_from_state(final, trace, thread_id, (time.perf_counter() - started) * 1000)
        answer.node_ms = node_ms
        yield PipelineEvent("answer", answer=answer)

    async def ask(
        self, question: str, thread_id: str | None = None, *, history: Sequence[Turn] = ()
    ) -> Answer:
        """The cited answer (or an abstention) with its trace and usage."""
        return await _final(self.events(question, thread_id, history=history))

    # -- the Runnable ----------------------------------------------------------------

    async def ainvoke(
        self, input: str | PipelineInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Answer:
        """The Answer to a question, or to `{"question": …, "thread_id": …}`."""
        return await _final(self._run(input, config))

    def invoke(
        self, input: str | PipelineInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Answer:
        """`ainvoke` for sync callers, on one private loop kept until `close()`."""
        config = ensure_config(config)  # here: the caller's context, not the loop thread's
        with self._background_lock:
            if self._background is None:
                self._background = BackgroundLoop()
        return self._background.run(self.ainvoke(input, config))

    async def astream(
        self, input: str | PipelineInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Answer]:
        """The answer as it is written: a partial Answer per checked sentence (`answer`
        the text so far, nothing else filled in; each extends the last and begins the
        final text), then the complete Answer."""
        text = ""
        async for event in self._run(input, config):
            if event.type == "checked" and event.text:
                text += event.text
                yield Answer(question=_question(input), answer=text)
            elif event.answer is not None:
                yield event.answer

    async def _run(
        self, input: str | PipelineInput, config: RunnableConfig | None
    ) -> AsyncIterator[PipelineEvent]:
        """`events` as one chain run of the config's callbacks, its nodes and LLM calls
        nested under it."""
        config = ensure_config(config)
        question = _question(input)
        thread_id = None if isinstance(input, str) else input.get("thread_id")
        manager = get_async_callback_manager_for_config(config)
        run = await manager.on_chain_start(
            None,
            {"question": question, "thread_id": thread_id},
            name=config.get("run_name") or self.get_name(),
            run_id=config.pop("run_id", None),
        )
        answer: Answer | None = None
        try:
            child = patch_config(config, callbacks=run.get_child())
            async for event in self.events(question, thread_id, config=child):
                answer = event.answer or answer
                yield event
        except BaseException as exc:
            await run.on_chain_error(exc)
            raise
        await run.on_chain_end(answer)

    # -- lifecycle -------------------------------------------------------------------

    async def aclose(self) -> None:
        if self._saver is not None:
            await self._saver.conn.close()
            self._saver = self._saved = None
            self._saver_loop = None
        for client in self._owned_clients:
            await client.close()

    def close(self) -> None:
        """Close the checkpoint and the client; required after `invoke` or `batch`."""
        if self._background is not None:
            self._background.run(self.aclose())
            self._background.close()
            self._background = None
        elif self._saver is not None or self._owned_clients:
            asyncio.run(self.aclose())

    async def __aenter__(self) -> Pipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _question(input: str | PipelineInput) -> str:
    if isinstance(input, str):
        return input
    if not isinstance(input, dict) or not isinstance(input.get("question"), str):
        raise InputError(
            f"the pipeline takes a question or {{'question': …, 'thread_id': …}}, not {input!r}"
        )
    return input["question"]


async def _final(events: AsyncIterator[PipelineEvent]) -> Answer:
    async for event in events:
        if event.answer is not None:
            return event.answer
    raise AssertionError("the run ended without an answer")  # pragma: no cover
