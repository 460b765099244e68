"""rankgraph's sample corpus, shipped as package data so `rankgraph demo` works from a
wheel: English Wikipedia lead sections (CC BY-SA 4.0, see README.md here) holding the
answers to a few sample questions, mixed with the documents a keyword search
confuses them with, and the answer each question expects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    question: str
    expected: str  # the gold answer string the demo expects inside the answer
    answers: tuple[str, ...]  # every accepted alias


def corpus_path() -> Path:
    """The sample corpus as a JSONL file on disk (id, title, text, url)."""
    return Path(str(resources.files(__name__).joinpath("corpus.jsonl")))


def samples() -> list[Sample]:
    """The sample questions, in the order the demo asks them."""
    text = resources.files(__name__).joinpath("questions.jsonl").read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [Sample(r["question"], r["expected"], tuple(r["answers"])) for r in records]
