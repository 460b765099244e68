"""Make the text layer of PDF pages read like the document: pypdf gives each page as
typeset, with its running header, its page number and words hyphenated at a line end.

Why it matters: "Chapter 3: Basic Shell Features 10" heads every page of a manual's
third chapter, so a chunk starts with words no question asks about, and a search for
"management" misses "man-" / "agement". Visual lines stay as they are: joining the
lines of a paragraph cost answers on the dev PDF questions (docs/benchmarks.md,
"Session 21").
"""

from __future__ import annotations

import re
from collections import Counter

# A word a typesetter split at a line end ("man-\nagement"): letters on both sides.
_LINE_END_HYPHEN = re.compile(r"(?<=[^\W\d_])-\n(?=[^\W\d_])")
_NUMBER = re.compile(r"\d+")
_LEADING_NUMBER = re.compile(r"^(?:[-–—]\s*)?(?:page\s+)?(\d+)\b", re.IGNORECASE)
_TRAILING_NUMBER = re.compile(r"\b(\d+)(?:\s+of\s+\d+)?(?:\s*[-–—])?$", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]{2,}")
# An entry of a table of contents or an index: text, then the pages it points at
# ("Redirections . . . . 37", "errorbars, 65–67, 70", "Canvas size 32", "! . . . 10").
_PAGES = r"\d+(?:[–-]\d+)?(?:,\s*\d+(?:[–-]\d+)?)*"
_LOCATOR = re.compile(rf"\S.*?[\s.,]{_PAGES}$")
# What only such lists have: dot leaders before a page number, or a comma before one.
_LEADER = re.compile(rf"(?:\.\s?){{3,}}\s*{_PAGES}$|,\s*{_PAGES}$")
_MIN_ENTRIES = 8
_MIN_LED = 3
# A running line (header or footer) is at a page's edge on this many pages at least.
_REPEATS = 3


def clean_pages(pages: list[str]) -> list[str]:
    """Each page's text, a line per line, without its running header and footer, and
    with the words split at a line end whole.

    >>> pages = ["Chapter 2: Vectors 9\\nA vector is recycled.",
    ...          "Chapter 2: Vectors 10\\nThe function seq() is more general than the\\n"
    ...          "colon operator.\\n> seq(1, 10)\\n10",
    ...          "11\\nChapter 3: Lists\\nA list is an object."]
    >>> print(clean_pages(pages)[1])
    The function seq() is more general than the
    colon operator.
    > seq(1, 10)
    """
    lines = [
        [line.strip() for line in join_split_words(page).splitlines() if line.strip()]
        for page in pages
    ]
    running = _running_lines(lines)
    return [
        "\n".join(line for at, line in enumerate(page) if (index, at) not in running)
        for index, page in enumerate(lines)
    ]


def is_contents_or_index(page: str) -> bool:
    """True for a page that lists where things are: a table of contents or an index.

    Why: such a page holds every term of its chapter titles or index entries and no
    statement about them, so it ranks high for a question and answers nothing (one
    first-stage candidate in eleven to sixteen on the PDF manual questions). Half its
    lines at least end in page numbers, and some of them after dot leaders or a comma;
    a table of numbers ("Ohio 45") or a settings dump ("width: 0") has no leaders.
    Index letter headings ("A", "%") are not counted.

    >>> is_contents_or_index("Contents\\n" + "\\n".join(
    ...     f"{n} Chapter {n} . . . . . . {10 * n}" for n in range(1, 10)))
    True
    >>> is_contents_or_index("\\n".join(f"term{n}, {n}, {n + 40}" for n in range(9)))
    True
    >>> is_contents_or_index("\\n".join(f"State{n} {n * 7}" for n in range(12)))
    False
    >>> is_contents_or_index("V\\nvalue . . . . . . 10\\nvariable . . . . . 2\\nvector . . . . 9")
    True
    >>> is_contents_or_index("Chapter 3\\nSee section 2.1 . . . . and page 7.")
    False
    """
    lines = [line for line in (raw.strip() for raw in page.splitlines()) if len(line) > 2]
    led = sum(1 for line in lines if _LEADER.search(line))
    if len(lines) < _MIN_ENTRIES:  # an index's last page: a few entries, led mostly
        return led >= _MIN_LED and led >= 0.5 * len(lines)
    located = sum(1 for line in lines if _LOCATOR.match(line))
    return located >= 0.5 * len(lines) and led >= 0.1 * len(lines)


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
        (index, at, edge, _end_numbers(page[at]), _mask(page[at]))
        for index, page in enumerate(pages)
        for at, edge in _edge_positions(len(page))
    ]
    offsets = Counter(number - index for index, _, _, numbers, _ in edges for number in numbers)
    offset, seen = offsets.most_common(1)[0] if offsets else (0, 0)
    masked = Counter((edge, key) for _, _, edge, _, key in edges)
    running: set[tuple[int, int]] = set()
    for index, at, edge, numbers, key in edges:
        numbered = (
            at in (0, len(pages[index]) - 1) and seen >= _REPEATS and index + offset in numbers
        )
        repeated = masked[edge, key] >= _REPEATS and len(_WORD.findall(pages[index][at])) >= 2
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
