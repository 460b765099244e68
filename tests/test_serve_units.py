"""The server's pure parts and small pieces, without the engine: message handling,
admission limits, trace retention, the bind rule, the trace page from a record, and
the pipeline's stateless history (the additive `history=` of `Pipeline.stream`)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rankgraph.agents import Answer, Citation, Pipeline
from rankgraph.agents.state import Turn
from rankgraph.errors import ConfigError, InputError
from rankgraph.schema import Passage
from rankgraph.serve.auth import check_bind, is_loopback
from rankgraph.serve.chat import conversation, progress_line
from rankgraph.serve.errors import ApiError
from rankgraph.serve.limits import Admission
from rankgraph.serve.schemas import ChatMessage, ContentPart
from rankgraph.serve.trace_page import render_trace
from rankgraph.serve.traces import RunRecord, TraceStore, new_id
from rankgraph.trace import TraceEvent, Usage, step
from tests.agents_fixtures import FakeClient, deps, prompt_text


def msg(role: str, content: str) -> ChatMessage:
    return ChatMessage.model_validate({"role": role, "content": content})


def test_conversation_takes_the_last_user_message_and_earlier_turns_as_history() -> None:
    messages = [
        msg("system", "You are helpful."),
        msg("user", "Who was Ada Lovelace?"),
        msg("assistant", "A mathematician [1]."),
        ChatMessage(role="user", content=[ContentPart(type="text", text="When was she born?")]),
    ]
    question, history = conversation(messages, max_chars=100, max_messages=10)
    assert question == "When was she born?"
    assert history == [
        {"role": "user", "content": "Who was Ada Lovelace?"},
        {"role": "assistant", "content": "A mathematician [1]."},
    ]


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [
        ([msg("user", "hi"), msg("assistant", "hello")], "last message must be"),
        ([msg("user", "x" * 101)], "over the limit of 100"),
        ([msg("user", "a")] * 11, "at most 10"),
        (
            [ChatMessage(role="user", content=[ContentPart(type="image_url")])],
            "only text content",
        ),
    ],
    ids=["ends-with-assistant", "too-long", "too-many", "image"],
)
def test_conversation_rejects_unusable_messages_with_a_400(
    messages: list[ChatMessage], fragment: str
) -> None:
    with pytest.raises(ApiError) as info:
        conversation(messages, max_chars=100, max_messages=10)
    assert info.value.status == 400 and fragment in info.value.message
    assert info.value.body()["error"]["param"] == "messages"


def test_progress_lines_name_each_node_and_skip_generate() -> None:
    rerank = step("rerank", method="pointwise", moves=[("a", 2, 1), ("b", 1, 2)])
    line = progress_line("rerank", {"reranked": ["a", "b"], "trace": [rerank]})
    assert line == "rerank (pointwise): top 2, 2 moved\n"
    judged = step("filter", method="adaptive", tau=0.5, scores={"a": 0.9, "b": 0.1}, kept=["a"])
    assert progress_line("filter", {"kept": ["a"], "trace": [judged]}) == (
        "filter (adaptive): kept 1 of 2, τ=0.50\n"
    )
    assert progress_line("generate", {"answer": "x"}) is None


async def test_admission_queues_up_to_the_limit_then_refuses_with_429() -> None:
    admission = Admission(max_in_flight=1, max_queue=1, retry_after_s=7)
    first, second = admission.reserve(), admission.reserve()
    await first.wait()
    with pytest.raises(ApiError) as info:
        admission.reserve()
    assert info.value.status == 429 and info.value.headers["Retry-After"] == "7"
    waiting = asyncio.ensure_future(second.wait())
    await asyncio.sleep(0.01)
    assert (admission.in_flight, admission.queued) == (1, 1) and not waiting.done()
    first.release()
    await waiting
    assert (admission.in_flight, admission.queued) == (1, 0)
    second.release()
    second.release()  # idempotent
    assert (admission.in_flight, admission.queued) == (0, 0)


async def test_a_ticket_cancelled_in_the_queue_leaves_it() -> None:
    admission = Admission(max_in_flight=1, max_queue=1, retry_after_s=1)
    running, queued = admission.reserve(), admission.reserve()
    await running.wait()
    waiting = asyncio.ensure_future(queued.wait())
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert (admission.in_flight, admission.queued) == (1, 0)


def _record(run_id: str) -> RunRecord:
    return RunRecord(id=run_id, kind="chat", model="m", question="q")


def test_trace_store_keeps_the_newest_within_count_and_age(tmp_path: Path) -> None:
    store = TraceStore(tmp_path, max_count=2, max_age_days=1)
    ids = [new_id("chatcmpl") for _ in range(4)]
    for i, run_id in enumerate(ids):
        store._save(_record(run_id))
        os.utime(tmp_path / f"{run_id}.json", (time.time() - 10 + i, time.time() - 10 + i))
    store.prune()
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted(ids[2:])
    old = tmp_path / f"{ids[3]}.json"
    os.utime(old, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    assert store.prune() == 1 and not old.exists()


async def test_trace_store_refuses_ids_that_are_not_plain_names(tmp_path: Path) -> None:
    store = TraceStore(tmp_path, max_count=5, max_age_days=1)
    assert await store.get("../../etc/passwd") is None
    assert await store.get("missing") is None


def test_no_keys_means_loopback_only() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    check_bind("127.0.0.1", [])
    check_bind("0.0.0.0", ["k"])
    with pytest.raises(ConfigError, match="without API keys"):
        check_bind("0.0.0.0", [])


def test_serve_refuses_a_public_host_without_keys_before_building_anything() -> None:
    from rankgraph.cli import app

    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "9"])
    assert result.exit_code == 1
    assert "refusing to listen on 0.0.0.0 without API keys" in result.stderr


def test_trace_page_shows_moves_threshold_linked_citations_and_unknown_data() -> None:
    a = Passage(id="p-a", text="Ada was born in 1815.", title="Ada")
    trace = [
        step("rewrite", method="skip", queries=["when was Ada born"]),
        step("retrieve", method="bm25", round=1, found=2, carried=0, ids=["p-b", "p-a"]),
        TraceEvent(
            node="rerank",
            method="listwise",
            reply="[2] > [1]",
            reasoning="Ada's passage names a year.",
            parsed=[2, 1],
            data={"passage_ids": ["p-b", "p-a"], "window_novel_key": 42},
            usage=Usage(calls=1, prompt_tokens=50, completion_tokens=5),
        ),
        step(
            "rerank",
            method="listwise",
            moves=[("p-a", 2, 1), ("p-b", 1, 2)],
            before=["p-b", "p-a"],
            after=["p-a", "p-b"],
        ),
        step("filter", method="adaptive", tau=0.42, scores={"p-a": 0.9, "p-b": 0.1}, kept=["p-a"]),
    ]
    answer = Answer(
        question="when was Ada born",
        answer="In 1815 [1].",
        citations=[Citation(n=1, passage_id="p-a", title="Ada")],
        passages=[a],
    )
    record = RunRecord(
        id="chatcmpl-x",
        kind="chat",
        model="m",
        question="when was Ada born",
        answer=answer,
        trace=trace,
    )
    page = render_trace(record)
    assert '<a class="cite" href="#p-1">[1]</a>' in page and 'id="p-1"' in page
    assert "▲ 1" in page and "▼ 1" in page
    assert "τ = <b>0.420</b>" in page
    assert "Ada&#x27;s passage names a year." in page
    assert "window_novel_key" in page  # unknown data keys are shown, not dropped
    assert "<script" not in page


def test_trace_page_says_when_an_answer_is_a_quote_of_its_passage() -> None:
    a = Passage(id="p-a", text="Ada was born in 1815.", title="Ada")
    answer = Answer(
        question="when was Ada born",
        answer='[1] reads: "Ada was born in 1815."',
        citations=[Citation(n=1, passage_id="p-a", quoted=True)],
        passages=[a],
    )
    record = RunRecord(id="chatcmpl-q", kind="chat", model="m", question="q", answer=answer)
    assert "quoted [1]: the reply only restated the question" in render_trace(record)
    record.answer = answer.model_copy(update={"citations": [Citation(n=1, passage_id="p-a")]})
    assert "quoted [1]" not in render_trace(record)


def test_trace_page_shows_first_stage_ranks_and_why_rerank_skipped() -> None:
    reason = "first stage confident: dense and BM25 share 3 of their top 5 (skip_if_agree=3)"
    trace = [
        step(
            "retrieve",
            method="hybrid",
            round=1,
            found=2,
            carried=0,
            ids=["p-a", "p-b"],
            ranks={"p-a": {"dense": 1, "bm25": 2}, "p-b": {"bm25": 1}},
        ),
        step("rerank", method="skip", reason=reason, agreement=3),
    ]
    record = RunRecord(id="chatcmpl-y", kind="chat", model="m", question="q", trace=trace)
    page = render_trace(record)
    assert "dense 1 · BM25 2" in page and "BM25 1</small>" in page
    assert f"Skipped, no LLM call: {reason}." in page


async def test_pipeline_stream_reads_a_given_history_without_a_thread(tmp_path: Path) -> None:
    client = FakeClient(rewrite={"standalone": "When was the rankgraph engine started?"})
    pipe = Pipeline(deps(client), checkpoint_path=tmp_path / "threads.sqlite")
    history = [
        Turn(role="user", content="What is rankgraph?"),
        Turn(role="assistant", content="A framework [1]."),
    ]
    answer = await pipe.ask("and when was it started?", history=history)
    rewrite = next(m for kind, m in client.calls if kind == "structured")
    assert "User: What is rankgraph?" in prompt_text(rewrite)
    assert answer.thread_id is None and not (tmp_path / "threads.sqlite").exists()
    with pytest.raises(InputError, match="not both"):
        await pipe.ask("q", thread_id="t", history=history)


def test_trace_page_of_a_rerank_call_lists_the_documents_and_names_fused_orders() -> None:
    documents = [Passage(id=f"doc-{i}", text=text) for i, text in enumerate(["Thames", "Ada"])]
    trace = [
        step(
            "rerank",
            method="pointwise",
            fusion="zscore",
            fusion_weight=0.5,
            before=[1, 0],
            after=[0, 1],
        ),
        step(
            "rerank",
            method="pointwise",
            moves=[("doc-1", 2, 1), ("doc-0", 1, 2)],
            before=["doc-0", "doc-1"],
            after=["doc-1", "doc-0"],
        ),
    ]
    record = RunRecord(
        id="rerank-x",
        kind="rerank",
        model="pointwise",
        question="who?",
        documents=documents,
        trace=trace,
    )
    page = render_trace(record)
    assert "Documents as sent" in page and "<i>Ada, Thames</i> became <i>Thames, Ada</i>" in page
    assert page.count("▲ 1") == 1 and 'id="answer"' not in page
