"""The one way rankgraph talks to an LLM: an async OpenAI-compatible client.

- spreads requests over one or more endpoints (least in-flight first), with a
  concurrency limit per endpoint;
- retries connection errors, timeouts, 429 and 5xx with jittered exponential
  backoff (tenacity alone; the openai client's own retries are off), a bounded
  number of times, then raises `LLMUnavailable` naming the URLs and the fix;
- records usage per call (tokens, latency, retries, cache hits) in the
  `Completion`, which turns into a `TraceEvent`;
- reads first-token logprobs over a set of labels, structured output by JSON
  schema or choice, and reasoning text;
- optionally serves and stores replies in a content-addressed cache.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai
from openai import AsyncOpenAI
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from rankgraph.config import LLMSettings, Settings
from rankgraph.errors import CacheMiss, LLMResponseError, LLMUnavailable, ParseError
from rankgraph.llm.cache import ResponseCache, cache_key
from rankgraph.llm.callbacks import traced
from rankgraph.llm.completion import (
    Completion,
    ContinuationLogprobs,
    LabelLogprobs,
    Messages,
    OnDelta,
    emit_delta,
)
from rankgraph.llm.labels import TOP_LOGPROBS
from rankgraph.llm.reasoning import split_reasoning
from rankgraph.llm.replies import from_cache, from_reply, with_retries
from rankgraph.llm.wire import ResumedDeltas, stream_reply, wire_messages

M = TypeVar("M", bound=BaseModel)


@dataclass
class _Endpoint:
    base_url: str
    client: AsyncOpenAI
    limit: int
    in_flight: int = 0
    semaphore: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.semaphore = asyncio.Semaphore(self.limit)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError | openai.APITimeoutError | openai.RateLimitError):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


class LLMClient:
    """Async client over one or more OpenAI-compatible endpoints (vLLM, llama.cpp)."""

    def __init__(
        self,
        base_urls: Sequence[str],
        model: str | None = None,
        *,
        settings: LLMSettings | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        if not base_urls:
            raise LLMUnavailable(
                "no LLM endpoint configured: start one with `rankgraph engine start` "
                "or set RANKGRAPH_LLM__BASE_URLS"
            )
        self.settings = settings or LLMSettings()
        self.cache = cache
        self._model = model
        self._model_lock = asyncio.Lock()
        self._endpoints = [
            _Endpoint(
                base_url=url.rstrip("/"),
                client=AsyncOpenAI(
                    base_url=url.rstrip("/"),
                    api_key=self.settings.api_key,
                    timeout=self.settings.timeout_s,
                    max_retries=0,
                ),
                limit=self.settings.concurrency,
            )
            for url in base_urls
        ]

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMClient:
        """Endpoints from `llm.base_urls`, else the external engine's, else the running engine."""
        from rankgraph.engine.discovery import find_engine

        urls = list(settings.llm.base_urls)
        model = settings.llm.model
        llm = settings.llm
        if not urls and settings.engine.kind == "external":
            urls = list(settings.engine.base_urls)
        if not urls:
            state = find_engine(settings)
            if state is not None:
                urls = state.endpoints()
                model = model or state.model
                llm = llm.model_copy(update={"api_key": state.api_key or llm.api_key})
        cache = None
        if settings.llm.cache != "off":
            path = settings.llm.cache_path or settings.data_dir / "llm-cache.sqlite"
            cache = ResponseCache(path, settings.llm.cache)
        return cls(urls, model, settings=llm, cache=cache)

    @property
    def base_urls(self) -> list[str]:
        return [e.base_url for e in self._endpoints]

    async def model(self) -> str:
        """The served model name: configured, else the first endpoint's first model."""
        if self._model is None:
            async with self._model_lock:
                if self._model is None:
                    page = await self._call(lambda c: c.models.list())
                    if not page.data:
                        raise LLMResponseError(f"{self.base_urls[0]} serves no model")
                    self._model = page.data[0].id
        return self._model

    async def close(self) -> None:
        for endpoint in self._endpoints:
            await endpoint.client.close()
        if self.cache is not None:
            self.cache.close()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the calls ---------------------------------------------------------------------

    async def complete(
        self,
        messages: Messages,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_logprobs: int = 0,
        stop: Sequence[str] | None = None,
        json_schema: dict[str, Any] | None = None,
        choices: Sequence[str] | None = None,
        n: int = 1,
        extra_body: dict[str, Any] | None = None,
        on_delta: OnDelta | None = None,
    ) -> Completion:
        """One chat completion. `on_delta` streams the text as it is generated.

        Under a LangChain run with callbacks, the call is reported to them as a chat
        model run (`rankgraph.llm.callbacks`). There is no `seed`: a seeded sampling
        request kills vLLM's CPU engine core (the generator rewind of vllm#10097), so
        runs are replayed from the response cache instead.
        """
        model = await self.model()
        params: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature, "n": n}
        if top_logprobs:
            params |= {"logprobs": True, "top_logprobs": top_logprobs}
        if stop:
            params["stop"] = list(stop)
        if json_schema is not None:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": json_schema, "strict": True},
            }
        body = dict(extra_body or {})
        if choices is not None:
            body["structured_outputs"] = {"choice": list(choices)}
        if body:
            params["extra_body"] = body

        async def call(on_delta: OnDelta | None) -> Completion:
            return await self._reply(model, messages, params, top_logprobs, on_delta)

        return await traced(model, messages, params, on_delta, call)

    async def _reply(
        self,
        model: str,
        messages: Messages,
        params: dict[str, Any],
        top_logprobs: int,
        on_delta: OnDelta | None,
    ) -> Completion:
        """The reply from the cache or the endpoint, with usage and retries recorded."""
        key = cache_key(model, messages, params) if self.cache is not None else ""
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                completion = from_cache(hit, model, messages, params)
                if on_delta is not None:
                    await emit_delta(on_delta, completion.text)
                return completion
            if self.cache.mode == "replay":
                raise CacheMiss(
                    f"replay-only cache {self.cache.path} has no reply for this request; "
                    "run once with cache mode read-write"
                )

        started = time.perf_counter()
        retries = 0
        resumed = ResumedDeltas(on_delta) if on_delta is not None else None

        async def create(client: AsyncOpenAI) -> Any:
            nonlocal retries
            retries += 1
            if resumed is None:
                return await client.chat.completions.create(
                    model=model, messages=wire_messages(messages), **params
                )
            return await stream_reply(client, model, messages, params, resumed.attempt())

        response, base_url = await self._call_with_url(create)
        latency_ms = (time.perf_counter() - started) * 1000
        completion = from_reply(response, model, base_url, messages, params, latency_ms)
        completion = with_retries(completion, retries - 1)
        if top_logprobs and not completion.logprobs:
            raise LLMResponseError(
                f"{base_url} returned no logprobs though top_logprobs={top_logprobs} was "
                "requested; use an engine that supports them (vLLM, llama.cpp server)"
            )
        wanted = params.get("extra_body", {}).get("prompt_logprobs")
        if wanted is not None and not completion.prompt_logprobs:
            raise LLMResponseError(
                f"{base_url} returned no prompt logprobs though prompt_logprobs was requested; "
                "use an engine that supports them (vLLM), or a rerank method that reads no "
                'prompt logprobs (e.g. rerank.method = "pointwise" instead of qlm / combined / '
                "cascade)"
            )
        if self.cache is not None:
            self.cache.put(key, completion.to_json())
        return completion

    async def label_logprobs(
        self,
        messages: Messages,
        labels: Sequence[str],
        *,
        top_logprobs: int = TOP_LOGPROBS,
        **kw: Any,
    ) -> LabelLogprobs:
        """Log-probability of each label at the first token that carries text.

        Read by `rankgraph.llm.labels`, the one label reader every judge and ranker uses.
        """
        completion = await self.complete(messages, max_tokens=1, top_logprobs=top_logprobs, **kw)
        return LabelLogprobs.read(completion, labels)

    async def continuation_logprobs(
        self, messages: Messages, continuation: str, **kw: Any
    ) -> ContinuationLogprobs:
        """Log-probability of each token of `continuation` as the start of the reply.

        One call: `continuation` goes in as the final assistant message, the engine
        continues that message (no generation prompt, no end of turn) and returns the
        prompt's logprobs (vLLM's `prompt_logprobs`); one token is generated and ignored.
        """
        wanted = [*messages, {"role": "assistant", "content": continuation}]
        body = {
            **(kw.pop("extra_body", None) or {}),
            "prompt_logprobs": 0,
            "add_generation_prompt": False,
            "continue_final_message": True,
        }
        completion = await self.complete(wanted, max_tokens=1, extra_body=body, **kw)
        return ContinuationLogprobs.read(completion, continuation)

    async def structured(
        self, messages: Messages, schema: type[M], *, max_tokens: int = 512, **kw: Any
    ) -> tuple[M, Completion]:
        """A reply constrained to `schema`'s JSON schema and validated into it."""
        completion = await self.complete(
            messages, max_tokens=max_tokens, json_schema=schema.model_json_schema(), **kw
        )
        try:
            return schema.model_validate_json(completion.text), completion
        except ValidationError as exc:
            raise ParseError(
                f"reply does not match {schema.__name__}: {completion.text[:200]!r}",
                completion=completion,
            ) from exc

    async def think_then_answer(
        self,
        messages: Messages,
        *,
        max_thinking_tokens: int | None = None,
        max_answer_tokens: int = 256,
        **kw: Any,
    ) -> Completion:
        """Reason first, then answer, with a cap on thinking tokens.

        The first call generates the thought up to `</think>` or the cap; the second
        continues the same assistant turn after a closed `</think>`, so the answer is
        produced even when the cap cut the thought short (Rank1's forced close).
        """
        cap = max_thinking_tokens or self.settings.max_thinking_tokens
        thought = await self.complete(messages, max_tokens=cap, stop=["</think>"])
        reasoning = thought.text.replace("<think>", "").strip()
        forced = thought.finish_reason == "length"
        prefix = f"<think>\n{reasoning}\n</think>\n"
        continued = [*messages, {"role": "assistant", "content": prefix}]
        body = {"add_generation_prompt": False, "continue_final_message": True}
        answer = await self.complete(
            continued,
            max_tokens=max_answer_tokens,
            extra_body={**kw.pop("extra_body", {}), **body},
            **kw,
        )
        text, inline = split_reasoning(answer.text)
        return Completion(
            text=text,
            reasoning=reasoning or inline,
            finish_reason=answer.finish_reason,
            usage=thought.usage + answer.usage,
            model=answer.model,
            base_url=answer.base_url,
            messages=messages,
            request={**answer.request, "max_thinking_tokens": cap, "thinking_forced_close": forced},
            logprobs=answer.logprobs,
            texts=answer.texts,
            cached=thought.cached and answer.cached,
        )

    # -- plumbing ----------------------------------------------------------------------

    async def _call(self, fn: Callable[[AsyncOpenAI], Awaitable[Any]]) -> Any:
        result, _ = await self._call_with_url(fn)
        return result

    async def _call_with_url(self, fn: Callable[[AsyncOpenAI], Awaitable[Any]]) -> tuple[Any, str]:
        """Run `fn` on the least-busy endpoint, retrying transient failures on any endpoint."""
        last_url = self._endpoints[0].base_url
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(_retryable),
                stop=stop_after_attempt(self.settings.max_attempts),
                wait=wait_exponential_jitter(
                    initial=self.settings.backoff_initial_s, max=self.settings.backoff_max_s
                ),
                reraise=False,
            ):
                with attempt:
                    endpoint = min(self._endpoints, key=lambda e: e.in_flight)
                    last_url = endpoint.base_url
                    endpoint.in_flight += 1
                    try:
                        async with endpoint.semaphore:
                            return await fn(endpoint.client), endpoint.base_url
                    finally:
                        endpoint.in_flight -= 1
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            urls = ", ".join(self.base_urls)
            raise LLMUnavailable(
                f"no reply from {urls} after {self.settings.max_attempts} tries "
                f"({type(cause).__name__}: {cause}): start the engine with "
                "`rankgraph engine start` or point RANKGRAPH_LLM__BASE_URLS at a running server"
            ) from cause
        except openai.APIStatusError as exc:
            raise LLMResponseError(
                f"{last_url} rejected the request ({exc.status_code}): {exc.message}"
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover
