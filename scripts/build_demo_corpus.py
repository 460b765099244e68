"""Rebuild rankgraph's sample corpus (`demo/`) from the wiki-nq fixture.

For each chosen question: every corpus document that holds its answer, plus
the documents BM25 ranks highest for the question that do not (the real
distractors a retriever meets). Writes demo/corpus.jsonl and
demo/questions.jsonl. Usage:

    python scripts/build_demo_corpus.py ../shared/data/wiki-nq nq-test-0 nq-test-11 ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import quote

import bm25s
import Stemmer

DISTRACTORS = 8


def main(data: Path, qids: list[str]) -> None:
    docs = [json.loads(line) for line in (data / "corpus.jsonl").open(encoding="utf-8")]
    questions = {
        q["qid"]: q for q in map(json.loads, (data / "questions.jsonl").open(encoding="utf-8"))
    }
    stemmer = Stemmer.Stemmer("english")
    texts = [f"{d['title']}\n{d['text']}" for d in docs]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False))
    chosen: dict[str, dict[str, str]] = {}
    samples = []
    for qid in qids:
        q = questions[qid]
        gold = set(q["answer_doc_ids"])
        tokens = bm25s.tokenize(
            [q["question"]], stopwords="en", stemmer=stemmer, show_progress=False
        )
        hits, _ = retriever.retrieve(tokens, k=DISTRACTORS + len(gold), show_progress=False)
        ranked = [docs[i] for i in hits[0]]
        picked = [d for d in docs if d["id"] in gold]
        picked += [d for d in ranked if d["id"] not in gold][:DISTRACTORS]
        for d in picked:
            url = "https://en.wikipedia.org/wiki/" + quote(d["title"].replace(" ", "_"))
            chosen[d["id"]] = {"id": d["id"], "title": d["title"], "text": d["text"], "url": url}
        samples.append(
            {
                "qid": qid,
                "question": q["question"],
                "expected": q["answers"][0],
                "answers": q["answers"],
            }
        )
    out = Path(__file__).resolve().parents[1] / "demo"
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for doc in sorted(chosen.values(), key=lambda d: d["id"]):
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    with (out / "questions.jsonl").open("w", encoding="utf-8") as fh:
        for sample in samples:
            fh.write(json.dumps(sample, ensure_ascii=False) + "\n")
    print(f"{len(chosen)} documents, {len(samples)} questions -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
