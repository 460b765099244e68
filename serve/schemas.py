"""The wire shapes: OpenAI chat completions and the Cohere/Jina rerank API (pydantic,
since these are the server's boundary).

Requests accept the fields other clients send (sampling parameters, Cohere's
`rank_fields`) and ignore what the pipeline does not use: its own config decides
temperature and length, so a chat UI's defaults cannot break a run.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rankgraph.agents.answer import Citation
from rankgraph.trace import Usage


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ContentPart(_Request):
    type: str
    text: str | None = None


class ChatMessage(_Request):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        """The message's text; non-text parts (images, audio) are not supported."""
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        kinds = {part.type for part in self.content} - {"text"}
        if kinds:
            raise ValueError(f"only text content is supported, got {', '.join(sorted(kinds))}")
        return "".join(part.text or "" for part in self.content)


class StreamOptions(_Request):
    include_usage: bool = False


class ChatCompletionRequest(_Request):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, description="A thread id: opts into thread memory.")
    n: int = Field(default=1, ge=1, le=1)


class CitationOut(Citation):
    """A citation with `text`, the passage it quotes."""

    text: str


class RankgraphInfo(BaseModel):
    """rankgraph's extension of a completion (and of a stream's last chunks)."""

    trace_id: str
    trace_url: str
    answer: str  # the final, citation-checked text (a stream may have sent a draft)
    citations: list[CitationOut] = Field(default_factory=list)
    abstained: bool = False
    abstain_reason: str | None = None
    thread_id: str | None = None


class UsageOut(BaseModel):
    """Tokens of every LLM call the pipeline made for this answer, not only generate's."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    calls: int

    @classmethod
    def of(cls, usage: Usage) -> UsageOut:
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
            calls=usage.calls,
        )


class Message(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: Message
    finish_reason: Literal["stop"] = "stop"


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: UsageOut
    rankgraph: RankgraphInfo


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop"] | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: UsageOut | None = None
    rankgraph: RankgraphInfo | None = None

    def sse(self) -> str:
        """One event; empty fields are left out, except in `rankgraph`, whose nulls say
        something (no abstain reason, no thread) and match the non-streamed reply."""
        body = self.model_dump(mode="json", exclude_none=True)
        if self.rankgraph is not None:
            body["rankgraph"] = self.rankgraph.model_dump(mode="json")
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "rankgraph"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class RerankDocument(_Request):
    text: str


class RerankRequest(_Request):
    model: str | None = Field(default=None, description="A method or profile; empty: pipeline's.")
    query: str = Field(min_length=1)
    documents: list[str | RerankDocument] = Field(min_length=1)
    top_n: int | None = Field(default=None, ge=1)
    return_documents: bool = False

    def texts(self) -> list[str]:
        return [d if isinstance(d, str) else d.text for d in self.documents]


class RerankItem(BaseModel):
    index: int
    relevance_score: float
    document: dict[str, Any] | None = None


class RerankResponse(BaseModel):
    id: str
    model: str
    results: list[RerankItem]
    usage: UsageOut
    meta: dict[str, Any] = Field(default_factory=dict)
