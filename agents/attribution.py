"""Check an answer's citations against the passages, sentence by sentence.

Small models often answer correctly without writing `[n]`, or write `[1]` after a
fact that passage 1 does not contain. Each sentence is compared with the kept
passages by lexical support (the share of its content words found in a passage):
- a cited sentence whose cited passages do not support it loses those citations;
- an uncited sentence that one passage clearly supports gets that citation,
  written into the text so the reader sees it;
- a sentence that declines ("I don't know [3].") loses its citations;
- a sentence that only restates the question ("The option that sets X is [3].")
  answers nothing, though its passage holds the question's words: it is replaced
  by the cited passage's sentence nearest the question, quoted, when that passage
  is on the question's topic, and otherwise loses its citations.
Every change is returned as a repair for the trace, never silent. A sentence
that no passage supports stays uncited, so an ungrounded answer ends uncited
and the generate node abstains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rankgraph.schema import Passage

# a sentence ends at . ! ? before a capital or digit — but not after an initial
# ("George W. Bush") or a common abbreviation ("Op. 71", "St. Petersburg"); citations
# right after its end mark are its own ("It opened in 1932. [2] It is red."), so the
# boundary comes after them (group "cites")
_ABBREVIATIONS = ("Op", "No", "St", "Dr", "Mr", "Ms", "Mt", "Jr", "Sr", "vs", "Vol", "Inc")
_CITE_GROUP = r"\[\d+(?:\s*[,;]\s*\d+)*\]"
_SENTENCES = re.compile(
    r"(?<=[.!?])(?<!\b[A-Z]\.)"
    + "".join(rf"(?<!\b{a}\.)" for a in _ABBREVIATIONS)
    + rf"(?P<cites>(?:\s*{_CITE_GROUP})*)\s+(?=[A-Z0-9\"'(])"
)
_LEADING_CITE = re.compile(rf"^\s*{_CITE_GROUP}\s*")
_DANGLING_CITE = re.compile(r"\s*\[[\d\s,;]*$")
_CITES_AFTER_END = re.compile(rf"([.!?])((?:\s*{_CITE_GROUP})+)\s*$")
_CITE = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOP = frozenset(
    """a about above after again all also an and any are as at be because been before being
    between both but by can could did do does doing down during each few for from further had
    has have having he her here hers him his how i if in into is it its itself just me more
    most my no nor not now of off on once only or other our out over own same she should so
    some such than that the their them then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you
    your passage passages document documents according based answer question""".split()  # noqa: SIM905
)


def cited_numbers(text: str) -> list[int]:
    """Every `[n]` / `[n, m]` citation number in the text, in order, repeats kept.

    >>> cited_numbers("A [2]. B [1; 3] [2].")
    [2, 1, 3, 2]
    """
    return [int(n) for m in _CITE.finditer(text) for n in re.split(r"[,;]", m.group(1))]


@dataclass(frozen=True)
class Attribution:
    text: str  # the answer with citations added or removed
    repairs: tuple[str, ...]


_DECLINES = ("i don't know", "i do not know", "do not contain the answer", "cannot answer")
# words that answer nothing: they point at the documents, not at what they say
_FILLER = frozenset(
    {"information", "provided", "mentioned", "stated", "context", "described", "specified"}
)
# a negation is an answer to a yes/no question ("X is not a Y"), so it is kept
_NOT_AN_ANSWER = (_STOP | _FILLER) - {"no", "not", "nor"}
_EDGES = ".,;:!?\"'`“”‘’*"
_ALTERNATIVES = re.compile(r"\bor\b", re.IGNORECASE)


def declines(text: str) -> bool:
    """The model said it cannot answer.

    >>> declines("I don't know: the documents do not contain the answer.")
    True
    """
    folded = text.casefold().replace("’", "'")
    return any(phrase in folded for phrase in _DECLINES)


def restates(sentence: str, question: str) -> bool:
    """The sentence says nothing the question did not: every term of it is the
    question's, and it repeats at least half of the question's terms.

    Why: a small model often copies the question and puts a citation where the answer
    should be ("The option that sets X is [3]."); lexical support cannot catch it,
    since the cited passage holds the question's words. A sentence that picks one of
    the question's alternatives ("A or B?" → "B came first") answers it.

    >>> restates("The option that makes Bash exit on errors is [3].",
    ...          "Which option makes Bash exit on errors?")
    True
    >>> restates("Based on the information provided, Lima is the capital of Peru [1].",
    ...          "What is the capital of Peru?")
    False
    >>> restates("The tower was built in 1889 [1].", "When was the tower built?")
    False
    >>> restates("The egg came first [2].", "Which came first, the chicken or the egg?")
    False
    >>> restates("No, the filter is not a reranker [1].", "Is the filter a reranker?")
    False
    >>> restates("The function that builds a file path is `file.path()` [1].",
    ...          "Which function builds a file path?")
    False
    """
    if not question:
        return False
    said, asked = _answer_words(sentence), _answer_words(question)
    if said - asked or len(said) < len(asked) / 2:  # a label ("Heaven [1].") copies less
        return False
    return not (_ALTERNATIVES.search(question) and asked - said)


def nearest_statement(
    kept: Sequence[Passage], cited: Sequence[int], question: str, max_words: int = 40
) -> tuple[int, str] | None:
    """The cited passages' sentence that shares most content words with the question,
    as (citation number, text); None when none shares any. A long sentence is cut to
    the `max_words` window that shares most, marked with "…"."""
    asked = content_words(question)
    best: tuple[int, int, str] | None = None
    for c in dict.fromkeys(cited):
        # a passage's own "[2]" would read as a citation inside the quote
        flat = " ".join(strip_citations(kept[c - 1].text).split())
        # split() also returns the pattern's "cites" group: every second item
        for sentence in _SENTENCES.split(flat)[::2]:
            words = sentence.split()
            asked_in = [asked & content_words(w) for w in words]  # once per word
            for start in range(max(1, len(words) - max_words + 1)):
                shared = len(set().union(*asked_in[start : start + max_words]))
                if shared and (best is None or shared > best[0]):
                    window = " ".join(words[start : start + max_words])
                    cut = "…" if start else "", "…" if start + max_words < len(words) else ""
                    best = shared, c, f"{cut[0]}{window}{cut[1]}"
    return None if best is None else (best[1], best[2])


def _answer_words(text: str) -> set[str]:
    """Whitespace-separated terms without edge punctuation, so that code keeps its
    form: `file.path` is not the question's "file path", nor `<<-` nothing at all."""
    terms = set()
    for raw in _CITE.sub(" ", text).split():
        term = raw.strip(_EDGES)
        if not term.endswith("()"):  # a call, `factor()`, is not the word "factor"
            term = term.strip("()[]{}").strip(_EDGES)
        terms.add(term.casefold())
    return terms - _NOT_AN_ANSWER - {""}


def content_words(text: str) -> set[str]:
    """Lower-cased words that carry meaning (no stopwords, no 1–2 letter tokens).

    >>> sorted(content_words("The capital of Peru is Lima [1]."))
    ['capital', 'lima', 'peru']
    """
    words = {m.group(0).casefold() for m in _WORD.finditer(text)}
    return {w for w in words if len(w) > 2 and not w.isdigit()} - _STOP


def strip_citations(text: str) -> str:
    """Text without its `[n]` citation marks (in an earlier chat turn they point at
    passages the next prompt does not show).

    >>> strip_citations("It opened in 1932 [1][2]. It is red [3, 4].")
    'It opened in 1932. It is red.'
    """
    return _CITE.sub("", text)


def support(sentence: str, passage: Passage) -> float:
    """Share of the sentence's content words that occur in the passage (title included)."""
    words = content_words(_CITE.sub("", sentence))
    if not words:
        return 0.0
    source = content_words(f"{passage.title or ''} {passage.text}")
    return len(words & source) / len(words)


def attribute(
    text: str, kept: Sequence[Passage], *, question: str = "", min_support: float = 0.6
) -> Attribution:
    """Drop citations the cited passage does not support; add them where one clearly does.

    >>> ps = [Passage(id="f", text="The filter keeps passages above an adaptive threshold."),
    ...       Passage(id="e", text="The engine runs vLLM on the CPU.")]
    >>> a = attribute("The filter keeps passages above a threshold.", ps)
    >>> a.text
    'The filter keeps passages above a threshold [1].'
    >>> a.repairs
    ('attributed sentence 1 to [1] (support 1.00)',)
    >>> attribute("The capital of Peru is Lima [1].", ps).text
    'The capital of Peru is Lima.'
    >>> bush = [Passage(id="b", text="George W. Bush was the 43rd president.")]
    >>> attribute("George W. Bush", bush).text
    'George W. Bush [1]'
    >>> attribute("[1] The filter keeps passages.", ps).text
    'The filter keeps passages [1].'
    >>> attribute("The filter keeps passages. [1] The engine runs vLLM. [2]", ps).text
    'The filter keeps passages [1]. The engine runs vLLM [2].'
    >>> nut = [Passage(id="n", text="The Nutcracker, Op. 71, is a ballet by Tchaikovsky.")]
    >>> attribute("The Nutcracker, Op. 71, is a ballet by Tchaikovsky [1].", nut).repairs
    ()
    >>> echo = attribute("The engine that runs on the CPU is [2].", ps,
    ...                  question="Which engine runs on the CPU?")
    >>> echo.text
    '[2] reads: "The engine runs vLLM on the CPU."'
    >>> echo.repairs
    ('sentence 1 restates the question: quoted [2] in its place',)
    >>> marked = [Passage(id="m", text="The filter [4] keeps passages above a threshold [7].")]
    >>> attribute("The passages the filter does keep are [1].", marked,
    ...           question="Which passages does the filter keep?").text
    '[1] reads: "The filter keeps passages above a threshold."'
    """
    stream = CheckedStream(kept, question=question, min_support=min_support)
    stream.feed(text.strip())
    stream.close()
    return Attribution(stream.text, tuple(stream.repairs))


@dataclass(frozen=True)
class CheckedSentence:
    """A sentence as the check leaves it; `quoted` is the passage number whose words
    replaced a sentence that only restated the question."""

    text: str
    repairs: list[str]
    quoted: int | None = None


def check_sentence(
    sentence: str, n: int, kept: Sequence[Passage], min_support: float, question: str = ""
) -> CheckedSentence:
    """Sentence `n` of an answer as the check leaves it, and the repairs it needed.

    Why per sentence: a sentence's citations are judged against its own words only,
    so a stream can check each sentence as soon as the next one begins.
    """
    repairs: list[str] = []
    lead = _LEADING_CITE.match(sentence)
    if lead and sentence[lead.end() :].strip():  # "[1] Paris is big." → "Paris is big [1]."
        rest = sentence[lead.end() :].rstrip()
        body, end = (rest[:-1], rest[-1]) if rest[-1] in ".!?" else (rest, "")
        sentence = f"{body} {lead.group(0).strip()}{end}"
        repairs.append(f"moved the leading citation of sentence {n} to its end")
    if trailing := _CITES_AFTER_END.search(sentence):  # "Paris is big. [1]" → "Paris is big [1]."
        end, cites = trailing.group(1), " ".join(trailing.group(2).split())
        sentence = f"{sentence[: trailing.start()].rstrip()} {cites}{end}"
    cited = [c for c in cited_numbers(sentence) if 1 <= c <= len(kept)]
    if declines(sentence):  # "I don't know [3]." cites a passage for saying nothing
        return _uncited(sentence, n, cited, "it declines to answer", repairs)
    if restates(sentence, question):
        # quoted only from a passage on the question's topic (the same bar as a kept
        # citation): another passage's nearest sentence would read as an answer
        on_topic = [c for c in cited if support(sentence, kept[c - 1]) >= min_support / 2]
        if quoted := nearest_statement(kept, on_topic, question):
            c, text = quoted
            repairs.append(f"sentence {n} restates the question: quoted [{c}] in its place")
            return CheckedSentence(f'[{c}] reads: "{text}"', repairs, quoted=c)
        return _uncited(sentence, n, cited, "it restates the question", repairs)
    if cited:
        if max(support(sentence, kept[c - 1]) for c in cited) >= min_support / 2:
            return CheckedSentence(sentence, repairs)
        sentence = strip_citations(sentence)
        repairs.append(f"removed unsupported citation(s) {cited} from sentence {n}")
    scores = [support(sentence, p) for p in kept]
    best = max(range(len(kept)), key=scores.__getitem__, default=None)
    if best is not None and scores[best] >= min_support:
        body, end = (sentence[:-1], sentence[-1]) if sentence[-1:] in ".!?" else (sentence, "")
        sentence = f"{body} [{best + 1}]{end}"
        repairs.append(f"attributed sentence {n} to [{best + 1}] (support {scores[best]:.2f})")
    return CheckedSentence(sentence, repairs)


def _uncited(
    sentence: str, n: int, cited: list[int], why: str, repairs: list[str]
) -> CheckedSentence:
    """A sentence that answers nothing, without its citations (and none added)."""
    if cited:
        sentence = strip_citations(sentence)
        repairs.append(f"removed citation(s) {cited} from sentence {n}: {why}")
    return CheckedSentence(sentence, repairs)


class CheckedStream:
    """An answer released as it is generated, a sentence at a time, each sentence as
    the citation check leaves it: what a reader is shown is never taken back.

    Why: a chat UI shows every token it receives, so streaming the raw draft shows
    citations the check then removes, or a whole answer that ends replaced by an
    abstention. A sentence is complete once the next one begins (the split is
    local, so these are exactly the sentences of the finished text). With
    `hold_until_cited`, nothing is released before the first sentence that keeps a
    valid citation: an answer that never cites becomes an abstention and none of
    it is shown. `min_support=None` passes sentences through unchecked, with the
    model's own spacing. `question` is what the answer answers, to catch a sentence
    that only restates it.

    >>> ps = [Passage(id="p", text="Lima is the capital of Peru.")]
    >>> s = CheckedStream(ps, min_support=0.6, hold_until_cited=True)
    >>> s.feed("Peru is in South America. Its capital is Li"), s.feed("ma. It is")
    ('', 'Peru is in South America. Its capital is Lima [1].')
    >>> s.close(), s.text
    (' It is', 'Peru is in South America. Its capital is Lima [1]. It is')
    """

    def __init__(
        self,
        kept: Sequence[Passage],
        *,
        min_support: float | None,
        question: str = "",
        hold_until_cited: bool = False,
    ) -> None:
        self.kept = kept
        self.question = question
        self.min_support = min_support
        self.hold_until_cited = hold_until_cited
        self.fed = ""  # every delta so far, verbatim
        self.sentences: list[str] = []  # checked, in order
        self.separators: list[str] = []  # what follows each sentence in `text`
        self.repairs: list[str] = []
        self.quoted: set[int] = set()  # passages quoted in place of a restated question
        self.shown = ""  # what `feed` and `close` have released so far
        self._buffer = ""

    @property
    def text(self) -> str:
        """The checked answer so far (all of it after `close`)."""
        return "".join(s + sep for s, sep in zip(self.sentences, self.separators, strict=True))

    @property
    def cited(self) -> bool:
        """Whether a checked sentence keeps a citation of a kept passage."""
        n = len(self.kept)
        return any(1 <= c <= n for s in self.sentences for c in cited_numbers(s))

    def feed(self, delta: str) -> str:
        """Take the next piece of the draft; return the text to show now ('' if none)."""
        self.fed += delta
        self._buffer = (self._buffer + delta).lstrip()
        complete = len(self.sentences)
        while (boundary := _SENTENCES.search(self._buffer)) is not None:
            cut = boundary.end("cites")
            sentence, separator, self._buffer = (
                self._buffer[:cut],
                self._buffer[cut : boundary.end()],
                self._buffer[boundary.end() :],
            )
            self._add(sentence, separator)
        # most deltas complete no sentence: nothing new to check or show
        return self._release() if len(self.sentences) > complete else ""

    def close(self) -> str:
        """The draft is complete: check its last sentence; return the text to show now."""
        # a reply cut off by max_tokens can end inside a citation: "… in 1932. [1"
        rest, self._buffer = _DANGLING_CITE.sub("", self._buffer).rstrip(), ""
        if rest:
            self._add(rest, "")
        if self.separators:
            self.separators[-1] = ""
        return self._release()

    def _add(self, sentence: str, separator: str) -> None:
        if self.min_support is not None:
            n = len(self.sentences) + 1
            checked = check_sentence(sentence, n, self.kept, self.min_support, self.question)
            sentence = checked.text
            self.repairs += checked.repairs
            if checked.quoted is not None:
                self.quoted.add(checked.quoted)
            separator = " "
        self.sentences.append(sentence)
        self.separators.append(separator)

    def _release(self) -> str:
        if not self.sentences or (self.hold_until_cited and not self.cited):
            return ""
        # a separator is shown with the sentence after it, so never after the last one
        text = self.text
        visible = text[: len(text) - len(self.separators[-1])]
        new, self.shown = visible[len(self.shown) :], visible
        return new
