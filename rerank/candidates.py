"""Read a candidates JSONL file: one query and its first-stage list per line.

    {"qid": "1", "query": "…", "candidates": [{"docid": "d1", "text": "…", "score": 12.3}]}

A candidate may carry its document's `"title"` (BEIR corpora and rankgraph's own
passages have one): the prompts show it before the text, as in the pipeline. Its
`"score"` is the first stage's: methods fuse it with the judge's (`fusion`); a query
whose candidates lack one is ranked by the judge alone.

Why strict here: everything after this costs LLM calls. A NaN score, a duplicate id
or a broken line found after the calls were paid for wastes them, so the whole file
is checked first and every bad line is reported with its number. Numeric ids (as
TREC tools write them) are read as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rankgraph.errors import InputError, first_problem
from rankgraph.schema import Passage

MAX_REPORTED = 20  # bad lines listed in one error; the count covers the rest
_SHAPE = (
    '{"qid": str, "query": str, "candidates": '
    '[{"docid": str, "text": str, "score": float, "title": str (optional)}]}'
)


class _Candidate(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    docid: str = Field(min_length=1)
    text: str
    title: str | None = None
    score: float | None = Field(default=None, allow_inf_nan=False)


class _CandidateLine(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    qid: str = Field(min_length=1)
    query: str = Field(min_length=1)
    candidates: list[_Candidate]


@dataclass(frozen=True)
class Query:
    """A query and its candidates as Passages (docid → id), in first-stage order."""

    qid: str
    text: str
    passages: tuple[Passage, ...]


def _parse(raw: bytes) -> _CandidateLine:
    """One line, or ValueError saying what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"not UTF-8 (byte {exc.start}: {raw[exc.start : exc.start + 1]!r})"
        ) from None
    try:
        line = _CandidateLine.model_validate_json(text)
    except ValidationError as exc:
        where, what = first_problem(exc)
        raise ValueError(f"{where or 'line'}: {what} (expected {_SHAPE})") from None
    if not line.candidates:
        raise ValueError(f"query {line.qid!r} has no candidates; drop the line or add some")
    seen: set[str] = set()
    for candidate in line.candidates:
        if candidate.docid in seen:
            raise ValueError(
                f"duplicate docid {candidate.docid!r} in query {line.qid!r}; "
                "each candidate must appear once per query"
            )
        seen.add(candidate.docid)
    return line


def load_candidates(
    path: Path, *, depth: int | None = None, limit: int | None = None
) -> list[Query]:
    """The first `limit` queries of a candidates file, each cut to `depth`.

    Reading stops at `limit`, so a quick `--limit 2` run does not parse a large file.
    Raises one InputError listing every bad line read (`path:line: what`).
    """
    if depth is not None and depth < 1:
        raise InputError(f"depth must be at least 1, got {depth}")
    if limit is not None and limit < 1:
        raise InputError(f"limit must be at least 1, got {limit}")
    if not path.is_file():
        raise InputError(f"candidates file not found: {path}")
    queries: list[Query] = []
    problems: list[str] = []
    qids: dict[str, int] = {}
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            if limit is not None and len(queries) + len(problems) >= limit:
                break
            try:
                line = _parse(raw)
                if line.qid in qids:
                    raise ValueError(
                        f"query {line.qid!r} already appeared on line {qids[line.qid]}"
                    )
            except ValueError as exc:
                problems.append(f"{path}:{lineno}: {exc}")
                continue
            qids[line.qid] = lineno
            kept = line.candidates[:depth] if depth is not None else line.candidates
            passages = tuple(
                Passage(id=c.docid, text=c.text, title=c.title, score=c.score) for c in kept
            )
            queries.append(Query(qid=line.qid, text=line.query, passages=passages))
    if problems:
        more = len(problems) - MAX_REPORTED
        listed = problems[:MAX_REPORTED] + ([f"… and {more} more bad lines"] if more > 0 else [])
        raise InputError("\n".join(listed))
    if not queries:
        raise InputError(f"{path} holds no queries")
    return queries
