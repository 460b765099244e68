"""Make the text layer of PDF pages read like the document. pypdf gives each page as
typeset: running headers and page numbers, words hyphenated at a line end, and every
paragraph broken into visual lines.

Why it matters: "Chapter 3: Basic Shell Features 10" heads every page of a manual's
third chapter, so a chunk starts with words no question asks about; a paragraph
wrapped at the margin reaches the prompts, which keep a document's real lines, as
lines that each stop mid-sentence (docs/benchmarks.md, "Session 21").
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import pairwise

# A word a typesetter split at a line end ("man-\nagement"): letters on both sides.
_LINE_END_HYPHEN = re.compile(r"(?<=[^\W\d_])-\n(?=[^\W\d_])")
_NUMBER = re.compile(r"\d+")
_LEADING_NUMBER = re.compile(r"^(?:[-–—]\s*)?(?:page\s+)?(\d+)\b", re.IGNORECASE)
_TRAILING_NUMBER = re.compile(r"\b(\d+)(?:\s+of\s+\d+)?(?:\s*[-–—])?$", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]{2,}")
# A running line (header or footer) is at a page's edge on this many pages at least.
_REPEATS = 3
# A line at least this share of the page's full line length reached the right margin.
_FULL = 0.8
# The next line continues a wrapped sentence only if it starts like prose.
_CONTINUES = re.compile(r"[^\W_]|[(\"'“‘]")
_ENDS_SENTENCE = re.compile(r"[.!?:]['\"”’)]*$")


def clean_pages(pages: list[str]) -> list[str]:
    """Each page's text without running headers and footers, words and paragraphs whole.

    >>> pages = ["Chapter 2: Vectors 9\\nA vector is recycled.",
    ...          "Chapter 2: Vectors 10\\nThe function seq() is more general than the\\n"
    ...          "colon operator.\\n> seq(1, 10)\\n10",
    ...          "11\\nChapter 3: Lists\\nA list is an object."]
    >>> print(clean_pages(pages)[1])
    The function seq() is more general than the colon operator.
    > seq(1, 10)
    """
    lines = [
        [line.strip() for line in join_split_words(page).splitlines() if line.strip()]
        for page in pages
    ]
    running = _running_lines(lines)
    return [
        unwrap([line for at, line in enumerate(page) if (index, at) not in running])
        for index, page in enumerate(lines)
    ]


def join_split_words(text: str) -> str:
    """PDF text with the words its typesetter hyphenated at a line end made whole.

    Why: "man-" and "agement" match no search for "management", and the reader copies
    the pieces. A compound that happened to break at its own hyphen loses it
    ("non-commercially" reads "noncommercially"), which no search or reader minds.

    >>> join_split_words("structures man-\\nagement, and DER en-\\ncoding\\n- item")
    'structures management, and DER encoding\\n- item'
    """
    return _LINE_END_HYPHEN.sub("", text)


def _running_lines(pages: list[list[str]]) -> set[tuple[int, int]]:
    """(page, line) of each running header or footer: a page's first or last line that
    starts or ends with the page's number, or one of its first or last two lines that
    repeats at the same edge of other pages once numbers are masked ("chapter #: basic
    shell features #", "shared mime-info database").

    A page number follows the page's place in the file with the offset most edge
    numbers share (front matter makes it -5 in a texinfo manual), so a content line
    rarely passes for one.
    """
    edges = [
        (index, at, edge)
        for index, page in enumerate(pages)
        for at, edge in _edge_positions(len(page))
    ]
    offsets = Counter(
        number - index for index, at, _ in edges for number in _end_numbers(pages[index][at])
    )
    offset, seen = offsets.most_common(1)[0] if offsets else (0, 0)
    masked = Counter((edge, _mask(pages[index][at])) for index, at, edge in edges)
    running: set[tuple[int, int]] = set()
    for index, at, edge in edges:
        line = pages[index][at]
        numbered = (
            at in (0, len(pages[index]) - 1)
            and seen >= _REPEATS
            and index + offset in _end_numbers(line)
        )
        repeated = masked[edge, _mask(line)] >= _REPEATS and len(_WORD.findall(line)) >= 2
        if numbered or repeated:
            running.add((index, at))
    return running


def _edge_positions(count: int) -> list[tuple[int, str]]:
    """The first two and last two line positions of a page, each with its edge."""
    top = [(at, "top") for at in range(min(2, count))]
    bottom = [(at, "bottom") for at in range(max(count - 2, 2), count)]
    return top + bottom


def _end_numbers(line: str) -> set[int]:
    """The numbers a line starts or ends with ("17", "gnuplot 5.4 21", "Page 3 of 9")."""
    found = [_LEADING_NUMBER.match(line), _TRAILING_NUMBER.search(line)]
    return {int(m.group(1)) for m in found if m}


def _mask(line: str) -> str:
    return _NUMBER.sub("#", " ".join(line.split())).lower()


def unwrap(lines: list[str]) -> str:
    """A page's lines with each paragraph's visual lines joined into one.

    A line that reaches the right margin (at least 0.8 of the page's full line length)
    runs on into the next one, unless it ends a sentence before a capital or a number,
    or the next line starts like code or a list ("> v <- 2*x", "• item"). Short lines
    (code, list items, a paragraph's last line, headings) keep their breaks.

    >>> print(unwrap(["A vector in an expression is recycled as often as need be", "until it",
    ...               "matches the longest one. It is then repeated.", "> v <- 2*x + y + 1"]))
    A vector in an expression is recycled as often as need be until it
    matches the longest one. It is then repeated.
    > v <- 2*x + y + 1
    """
    if not lines:
        return ""
    lengths = sorted(len(line) for line in lines)
    full = lengths[round(0.9 * (len(lengths) - 1))]
    out = [lines[0]]
    for prev, line in pairwise(lines):
        runs_on = (
            len(prev) >= _FULL * full
            and _CONTINUES.match(line) is not None
            and not (_ENDS_SENTENCE.search(prev) and (line[0].isupper() or line[0].isdigit()))
        )
        if runs_on:
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return "\n".join(out)
