"""The agent graph's configuration: `Settings.pipeline`, the `[pipeline]` table of
`rankgraph.toml`.

A root module, not part of `rankgraph.agents`, so the core settings can type their
`pipeline` field without importing LangGraph. Every section rejects unknown keys,
so a typo such as `n_sigmas` fails loudly instead of silently running the default.
Change a loaded config with `with_collection` or `merged`; both return a new,
validated config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rankgraph.choices import RetrievalMode
from rankgraph.errors import PromptError
from rankgraph.prompts import load_prompt

# qlm at depth 7: chosen on the dev half of wiki-nq over the pointwise judge
# (docs/benchmarks.md); with the answer call, 8 LLM calls per question.
DEFAULT_RERANK_METHOD = "qlm"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RewriteConfig(_Section):
    """Query rewriting before retrieval.

    `mode="auto"` calls the LLM only when there is something to do (chat history,
    corrective feedback, decomposition or expansion); `always` rewrites every
    question; `off` retrieves with the question as asked.
    """

    mode: Literal["off", "auto", "always"] = "auto"
    decompose: bool = False
    max_sub_questions: int = Field(default=3, ge=1, le=8)
    expand: bool = Field(default=False, description="HyDE: add a hypothetical answer passage.")
    history_turns: int = Field(default=3, ge=0, le=20, description="Past turns shown.")
    max_tokens: int = Field(default=256, ge=32)
    on_parse_error: Literal["keep_question", "raise"] = "keep_question"


class RetrieveConfig(_Section):
    mode: RetrievalMode | None = Field(
        default=None, description="None: the retrieval settings' mode."
    )
    k: int = Field(default=20, ge=1, le=1000)
    where: dict[str, Any] | None = Field(default=None, description="Metadata filter.")


class RerankConfig(_Section):
    """Reorder the first `depth` candidates with an LLM method; keep the top-k.

    Candidates below `depth` follow in retrieval order, so depth bounds the calls
    (pointwise: one per candidate) and the rest still reach the top-k when the
    judge demotes everything above them.
    """

    method: str | None = Field(
        default=None,
        description=f"None: {DEFAULT_RERANK_METHOD!r}, or 'pointwise' on an engine that returns"
        " no prompt logprobs (llama.cpp).",
    )
    options: dict[str, Any] = Field(default_factory=dict)
    depth: int | None = Field(default=7, ge=1, le=1000, description="None: every candidate.")
    top_k: int = Field(default=5, ge=1, le=100)
    # off by default: at 3 of 5 it saved a sixth of the calls on wiki-nq with no measured
    # gain on the test half, and it skipped the rerank a demo question needed (docs/benchmarks.md)
    skip_if_agree: int = Field(
        default=0,
        ge=0,
        le=100,
        description="Skip the reranker when the dense and BM25 lists share at least this many"
        " passages in their top `top_k` (the first stage is confident). 0: always rerank.",
    )
    max_calls: int | None = Field(default=None, ge=1)
    max_prompt_tokens: int | None = Field(default=None, ge=1)
    on_failure: Literal["raise", "keep_order"] = Field(
        default="raise",
        description="A judge or ranker call that failed after retries fails the run (raise), or"
        " its passages keep their prior order, recorded in the trace (keep_order: degraded).",
    )

    @model_validator(mode="after")
    def _agreement_reachable(self) -> RerankConfig:
        if self.skip_if_agree > self.top_k:
            raise ValueError(
                f"skip_if_agree={self.skip_if_agree} can never be reached with top_k="
                f"{self.top_k}: two top-{self.top_k} lists share at most {self.top_k} passages"
            )
        return self


class FilterConfig(_Section):
    """LLM relevance judges (MAIN-RAG) on the reranked top-k.

    Each judge is a yes/no `prompts/judge_<name>.md` prompt scored by the pointwise
    judge (P(Yes)); a (judge, passage) pair already scored this turn — by the
    reranker, say — is reused, not asked again.
    fixed: keep P(Yes) ≥ threshold; adaptive: keep score ≥ mean − n_sigma·σ.
    `min_score` is an absolute floor under either rule: a passage the judges give
    less is never kept, so a question with no relevant passage ends in an
    abstention without a generate call. `keep_at_least` pads the kept set with the
    best-scored rejects above that floor; the corrective loop counts only true
    survivors. With several judges, `skip_if_confident` lets a judge that is sure
    of every passage decide alone (adaptive spend).
    """

    # off by default: with the CPU presets' judges it dropped gold passages on the dev half
    # of wiki-nq in every keep rule tried (docs/benchmarks.md); turn it on with a stronger judge.
    mode: Literal["off", "fixed", "adaptive"] = "off"
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    n_sigma: float = Field(default=0.5, ge=0.0, le=3.0)
    min_score: float = Field(default=0.0, ge=0.0, le=1.0)
    # the reranker's default prompt, so a filter turned on reuses its judgements
    judges: list[str] = Field(default_factory=lambda: ["yesno_passage_first"], min_length=1)
    consensus: Literal["mean", "majority"] = "mean"
    # off by default: at 0.7 it saved 8–18 % of a two-judge filter's calls on wiki-nq but lost
    # 3 of the 216 answers it skipped, all on the test half (docs/benchmarks.md, "Session 9")
    skip_if_confident: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="With several judges: when the first one (the one whose scores are already"
        " known, else the first listed) gives every passage P(Yes) >= this or <= 1 - this, the"
        " others are not asked and it decides alone. 0: every judge is always asked.",
    )
    keep_at_least: int = Field(default=1, ge=0)
    max_words: int = Field(default=120, ge=10, description="Passage words a judge reads.")
    notes: bool = Field(default=False, description="Chain-of-Note reading notes.")
    note_max_tokens: int = Field(default=96, ge=16)

    @field_validator("skip_if_confident")
    @classmethod
    def _confidence_above_even(cls, value: float) -> float:
        if 0 < value <= 0.5:
            raise ValueError(
                f"skip_if_confident={value} would call every score confident: use a value above"
                " 0.5 (0.9: every P(Yes) at least 0.9 or at most 0.1), or 0 to ask every judge"
            )
        return value

    @field_validator("judges")
    @classmethod
    def _judge_prompts_exist(cls, judges: list[str]) -> list[str]:
        for name in judges:
            try:
                load_prompt(f"judge_{name}")
            except PromptError as exc:
                raise ValueError(f"judge {name!r}: {exc}") from exc
        return judges


class GenerateConfig(_Section):
    """The cited answer. `short`: the answer itself, a few words, with its citation
    (what factoid QA and EM/F1 expect); `full`: one to three cited sentences."""

    style: Literal["short", "full"] = "full"
    max_tokens: int = Field(default=256, ge=16)
    require_citations: bool = Field(
        default=True, description="An answer citing no kept passage counts as an abstention."
    )
    max_passage_words: int = Field(default=200, ge=20)
    check_citations: bool = Field(
        default=True,
        description="Drop citations the cited passage does not support; add clearly supported"
        " ones the model left out (each change is a repair in the trace).",
    )
    min_support: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="Share of a sentence's content words a passage must contain to support it.",
    )
    samples: int = Field(
        default=0,
        ge=0,
        le=16,
        description="Answers sampled beside the greedy one (one more call, n=samples) for a"
        " self-consistency vote: the answer the others agree with most is final; when most"
        " abstain, the vote abstains. 0: the greedy answer alone, streamed as it is checked.",
    )
    sample_temperature: float = Field(default=0.7, gt=0.0, le=2.0)


class LoopConfig(_Section):
    """The corrective (CRAG) loop: `max_rounds` counts retrieval rounds, the first included."""

    max_rounds: int = Field(default=2, ge=1, le=5)
    min_passages: int = Field(default=1, ge=0)


class PipelineConfig(_Section):
    """The graph's sections; `collection` None searches the retrieval settings' collection."""

    collection: str | None = None
    max_question_chars: int = Field(default=1000, ge=20)
    rewrite: RewriteConfig = Field(default_factory=RewriteConfig)
    retrieve: RetrieveConfig = Field(default_factory=RetrieveConfig)
    rerank: RerankConfig = Field(default_factory=RerankConfig)
    filter: FilterConfig = Field(default_factory=FilterConfig)
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)

    def with_collection(self, collection: str | None) -> PipelineConfig:
        """This config searching `collection` (None: unchanged).

        >>> PipelineConfig().with_collection("papers").collection
        'papers'
        """
        if collection is None:
            return self
        return self.model_copy(update={"collection": collection})

    def merged(self, overrides: Mapping[str, Any]) -> PipelineConfig:
        """This config with `overrides` (a partial `[pipeline]` table) laid over it,
        section by section; validated, so an unknown key raises ValidationError.

        Rerank `options` belong to their method: an override that names another
        method starts from that method's defaults (plus any options it gives), so
        `plain` (method "none") also works over a config that tunes its judge.

        >>> judged = PipelineConfig().merged({"rerank": {"options": {"max_words": 80}}})
        >>> plain = judged.merged({"rerank": {"method": "none"}})
        >>> plain.rerank.method, plain.rerank.options, plain.rerank.top_k
        ('none', {}, 5)
        """
        data = _deep_merge(self.model_dump(), overrides)
        method = overrides.get("rerank", {}).get("method")
        if method is not None and method != (self.rerank.method or DEFAULT_RERANK_METHOD):
            data["rerank"]["options"] = dict(overrides["rerank"].get("options", {}))
        return PipelineConfig.model_validate(data)

    def recursion_limit(self) -> int:
        """A graph step budget that the bounded loop can never reach."""
        return 6 * self.loop.max_rounds + 10


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = _deep_merge(current, value)
        else:
            out[key] = value
    return out
