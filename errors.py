"""The errors rankgraph raises. Each says what failed, the value, and what to do next."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

    from rankgraph.llm.completion import Completion


def first_problem(exc: ValidationError) -> tuple[str, str]:
    """(where, what) of a validation error's first problem, e.g. ("candidates.0.text",
    "Field required"); `where` is "" at the top level. Messages name one problem: the
    first is the one to fix first."""
    first = exc.errors()[0]
    return ".".join(str(part) for part in first["loc"]), first["msg"]


class RankgraphError(Exception):
    """Base class: the CLI prints the message and exits 1."""


class ConfigError(RankgraphError):
    """A setting, config file or argument is invalid."""


class EngineError(RankgraphError):
    """The local LLM engine could not be installed, started or found."""


class LLMUnavailable(RankgraphError):
    """No reply from the LLM endpoint after the bounded retries."""


class LLMResponseError(RankgraphError):
    """The endpoint replied, but not with what was asked (e.g. logprobs missing)."""


class ParseError(RankgraphError):
    """An LLM reply could not be parsed, even with repair.

    `completion` is the call that produced it, when there was one, so a caller that
    recovers still records what the call cost and what it said.
    """

    def __init__(self, message: str, *, completion: Completion | None = None) -> None:
        super().__init__(message)
        self.completion = completion


class PromptError(RankgraphError):
    """A prompt template is missing, or a variable is missing or unknown."""


class RetrievalError(RankgraphError):
    """The store, the index or the embedding model is missing or inconsistent."""


class IngestError(RankgraphError):
    """A document could not be read or indexed."""


class InputError(RankgraphError):
    """The user's input is invalid: an empty question, duplicate ids, a malformed file."""


class CacheMiss(RankgraphError):
    """Replay-only cache mode met a request it has never seen."""


class LLMCallsFailed(RankgraphError):
    """LLM calls of a run failed and the run was not allowed to degrade (--allow-failures)."""
