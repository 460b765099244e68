"""Turn what the engine (or the response cache) sent back into a `Completion`.

Chat replies, streamed replies and cache records all end up in the same shape,
with reasoning text split off and usage recorded.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rankgraph.errors import LLMResponseError
from rankgraph.llm.completion import Completion, Messages, TokenLogprob
from rankgraph.llm.reasoning import split_reasoning
from rankgraph.trace import Usage


def from_reply(
    response: Any,
    model: str,
    base_url: str,
    messages: Messages,
    params: dict[str, Any],
    latency_ms: float,
) -> Completion:
    request = request_record(params)
    if isinstance(response, dict):  # a streamed reply
        usage = response["usage"]
        text, inline = split_reasoning(response["text"])
        return Completion(
            text=text,
            reasoning=inline,
            finish_reason=response["finish_reason"],
            usage=Usage(
                calls=1,
                prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                latency_ms=latency_ms,
            ),
            model=model,
            base_url=base_url,
            messages=messages,
            request=request,
            texts=(text,),
        )
    if not response.choices:
        raise LLMResponseError(f"{base_url} returned no choices")
    texts: list[str] = []
    reasoning: str | None = None
    for choice in response.choices:
        raw = choice.message.content or ""
        extra = choice.message.model_extra or {}
        native = extra.get("reasoning_content") or extra.get("reasoning")
        text, inline = split_reasoning(raw)
        texts.append(text)
        if choice.index == 0:
            reasoning = native or inline
    first = response.choices[0]
    logprobs: tuple[TokenLogprob, ...] = ()
    if first.logprobs is not None and first.logprobs.content:
        logprobs = tuple(
            TokenLogprob(
                token=item.token,
                logprob=item.logprob,
                top={t.token: t.logprob for t in item.top_logprobs or []},
            )
            for item in first.logprobs.content
        )
    usage = response.usage
    extra = response.model_extra or {}
    return Completion(
        text=texts[0],
        reasoning=reasoning,
        finish_reason=first.finish_reason,
        usage=Usage(
            calls=1,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_ms=latency_ms,
        ),
        model=model,
        base_url=base_url,
        messages=messages,
        request=request,
        logprobs=logprobs,
        texts=tuple(texts),
        prompt_logprobs=prompt_tokens(extra.get("prompt_logprobs"), extra.get("prompt_token_ids")),
    )


def prompt_tokens(raw: Any, token_ids: Any) -> tuple[TokenLogprob, ...]:
    """vLLM's `prompt_logprobs` (per position None or {token_id: {logprob, decoded_token}})
    as the prompt's own tokens; the position's token id picks its entry when top-k
    alternatives came along.

    >>> prompt_tokens([None, {"7": {"logprob": -0.5, "decoded_token": " is"}}], [1, 7])
    (TokenLogprob(token=' is', logprob=-0.5, top={}),)
    """
    if not raw:
        return ()
    out: list[TokenLogprob] = []
    for i, entry in enumerate(raw):
        if not entry:
            continue
        key = str(token_ids[i]) if token_ids and i < len(token_ids) else None
        item = entry.get(key) if key is not None else None
        if item is None:
            item = next(iter(entry.values()))
        out.append(TokenLogprob(str(item.get("decoded_token") or ""), float(item["logprob"]), {}))
    return tuple(out)


def from_cache(
    hit: dict[str, Any], model: str, messages: Messages, params: dict[str, Any]
) -> Completion:
    return Completion(
        text=hit["text"],
        reasoning=hit["reasoning"],
        finish_reason=hit["finish_reason"],
        usage=Usage(
            calls=1,
            prompt_tokens=hit["prompt_tokens"],
            completion_tokens=hit["completion_tokens"],
            cached_calls=1,
        ),
        model=model,
        base_url="cache",
        messages=messages,
        request=request_record(params),
        logprobs=tuple(TokenLogprob(t, lp, top) for t, lp, top in hit["logprobs"]),
        texts=tuple(hit["texts"]),
        cached=True,
        prompt_logprobs=tuple(TokenLogprob(t, lp, {}) for t, lp in hit.get("prompt_logprobs", [])),
    )


def request_record(params: dict[str, Any]) -> dict[str, Any]:
    record = {k: v for k, v in params.items() if k != "extra_body"}
    record.update(params.get("extra_body", {}))
    return record


def with_retries(completion: Completion, retries: int) -> Completion:
    if retries <= 0:
        return completion
    return replace(completion, usage=completion.usage.model_copy(update={"retries": retries}))
