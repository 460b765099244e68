"""Check an answer's citations against the passages, sentence by sentence.

Small models often answer correctly without writing `[n]`, or write `[1]` after a
fact that passage 1 does not contain. Each sentence is compared with the kept
passages by lexical support (the share of its content words found in a passage):
- a cited sentence whose cited passages do not support it loses those citations;
- an uncited sentence that one passage clearly supports gets that citation,
  written into the text so the reader sees it.
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


def attribute(text: str, kept: Sequence[Passage], *, min_support: float = 0.6) -> Attribution:
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
    """
    stream = CheckedStream(kept, min_support=min_support)
    stream.feed(text.strip())
    stream.close()
    return Attribution(stream.text, tuple(stream.repairs))


def check_sentence(
    sentence: str, n: int, kept: Sequence[Passage], min_support: float
) -> tuple[str, list[str]]:
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
    if cited:
        if max(support(sentence, kept[c - 1]) for c in cited) >= min_support / 2:
            return sentence, repairs
        sentence = _CITE.sub("", sentence)
        repairs.append(f"removed unsupported citation(s) {cited} from sentence {n}")
    scores = [support(sentence, p) for p in kept]
    best = max(range(len(kept)), key=scores.__getitem__, default=None)
    if best is not None and scores[best] >= min_support:
        body, end = (sentence[:-1], sentence[-1]) if sentence[-1:] in ".!?" else (sentence, "")
        sentence = f"{body} [{best + 1}]{end}"
        repairs.append(f"attributed sentence {n} to [{best + 1}] (support {scores[best]:.2f})")
    return sentence, repairs


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
    model's own spacing.

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
        hold_until_cited: bool = False,
    ) -> None:
        self.kept = kept
        self.min_support = min_support
        self.hold_until_cited = hold_until_cited
        self.fed = ""  # every delta so far, verbatim
        self.sentences: list[str] = []  # checked, in order
        self.separators: list[str] = []  # what follows each sentence in `text`
        self.repairs: list[str] = []
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
            sentence, repairs = check_sentence(
                sentence, len(self.sentences) + 1, self.kept, self.min_support
            )
            self.repairs += repairs
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
