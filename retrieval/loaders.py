"""Read files into documents: .txt, .md, .html/.htm, .pdf, .jsonl.

A loader yields `Document`s and `Note`s (a problem that skips part of a file, or a
warning); it never raises for bad content, so one bad file does not stop an index run.
Large text and JSONL files are streamed: JSONL line by line, text in segments cut at
line breaks, so a huge file never sits in memory whole.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rankgraph.retrieval.html_text import decode_html, read_html
from rankgraph.retrieval.pdf_text import clean_pages, is_contents_or_index

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst"}
HTML_SUFFIXES = {".html", ".htm"}
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf", ".jsonl"}
_BLOCK = 1 << 20  # bytes read at a time
_SEGMENT = 1 << 20  # characters per streamed text segment
_SNIFF = 8192
_UNDERLINE = re.compile(r"([=\-~^*+#`'\".:_])\1{2,}\s*$")  # a heading's underline
# Raise it when a loader reads a file differently, so that re-indexing re-reads files
# indexed before (2: HTML as trafilatura's main content; 3: PDF words split at a line
# end joined; 4: PDF running headers, footers and page numbers dropped; 5: PDF
# tables of contents and indexes left out; 6: HTML pages of links and redirect stubs
# left out, HTML read in its declared charset).
LOADERS_VERSION = 6

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Document:
    """Text from one file (or one JSONL record / PDF page / segment of a big file)."""

    text: str
    title: str | None = None
    doc_id: str | None = None
    offset: int = 0  # character offset of `text` in the file's (decoded) text
    metadata: dict[str, Scalar] = field(default_factory=dict)
    position: int = 0  # bytes of the file consumed so far (for progress)


@dataclass(frozen=True)
class Note:
    """Something the user should hear about; `skipped` means content was left out."""

    where: str
    message: str
    skipped: bool = True


Item = Document | Note


def load(path: Path) -> Iterator[Item]:
    """Documents and notes for one file, by suffix."""
    suffix = path.suffix.lower()
    try:
        if path.stat().st_size == 0:
            yield Note(str(path), "empty file")
            return
        if suffix == ".pdf":
            yield from _load_pdf(path)
            return
        with path.open("rb") as fh:
            head = fh.read(_SNIFF)
        if b"\x00" in head:
            yield Note(str(path), "binary file (NUL bytes), not text")
            return
        if looks_binary(head):
            yield Note(str(path), "binary file (mostly bytes that are not text)")
            return
        if suffix == ".jsonl":
            yield from _load_jsonl(path)
        elif suffix in HTML_SUFFIXES:
            yield from _load_html(path)
        else:
            yield from _load_text(path, headings=suffix != ".txt")
    except OSError as exc:
        yield Note(str(path), f"cannot read: {exc}")


_TEXT_CONTROLS = frozenset("\t\n\r\f\v\x1b")
BINARY_SHARE = 0.3


def looks_binary(head: bytes) -> bool:
    """True when over 30% of the first characters are invalid UTF-8 or control characters.

    Random or compressed bytes fail UTF-8 about half the time; a text file in another
    encoding (Latin-1) has a few bad bytes and is read with replacement instead.

    >>> looks_binary("plain text, é".encode()), looks_binary(bytes(range(128, 256)))
    (False, True)
    """
    if not head:
        return False
    text = head.decode("utf-8", errors="replace")
    bad = sum(
        1
        for ch in text
        if ch == "\ufffd" or (ord(ch) < 32 and ch not in _TEXT_CONTROLS) or 0x7F <= ord(ch) < 0xA0
    )
    return bad > BINARY_SHARE * len(text)


class _Decoder:
    """Incremental UTF-8: strict until the first bad byte, then replacing, noted once."""

    def __init__(self) -> None:
        self._dec = codecs.getincrementaldecoder("utf-8")(errors="strict")
        self.replaced = False

    def decode(self, data: bytes, final: bool = False) -> str:
        if self.replaced:
            return self._dec.decode(data, final)
        pending = self._dec.getstate()[0]
        try:
            return self._dec.decode(data, final)
        except UnicodeDecodeError:
            self.replaced = True
            self._dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
            return self._dec.decode(pending + data, final)


def _replaced_note(path: Path) -> Note:
    return Note(str(path), "invalid UTF-8 bytes replaced with U+FFFD", skipped=False)


def _load_text(path: Path, *, headings: bool) -> Iterator[Item]:
    decoder = _Decoder()
    title = path.stem
    buffer = ""
    offset = 0
    position = 0
    any_text = False
    with path.open("rb") as fh:
        while True:
            block = fh.read(_BLOCK)
            position += len(block)
            buffer += decoder.decode(block, final=not block)
            if headings and offset == 0 and title == path.stem:
                title = _heading_title(buffer) or title
            while len(buffer) >= _SEGMENT or (not block and buffer):
                cut = _cut(buffer) if block else len(buffer)
                segment, buffer = buffer[:cut], buffer[cut:]
                if segment.strip():
                    any_text = True
                    yield Document(segment, title=title, offset=offset, position=position)
                offset += len(segment)
            if not block:
                break
    if decoder.replaced:
        yield _replaced_note(path)
    if not any_text:
        yield Note(str(path), "no text (only whitespace)")


def _cut(buffer: str) -> int:
    """Where to end a segment: the last paragraph or line break before the limit."""
    for sep in ("\n\n", "\n", " "):
        at = buffer.rfind(sep, 0, _SEGMENT)
        if at > _SEGMENT // 2:
            return at + len(sep)
    return _SEGMENT


def _heading_title(text: str) -> str | None:
    """The first heading of a Markdown or reStructuredText file: "# Title", or a line
    underlined with one repeated punctuation mark at least as long ("Title" / "=====").

    >>> _heading_title("Intro text.\\n\\nInstalling\\n==========\\nRun pip.")
    'Installing'
    >>> _heading_title("---\\ntitle: front matter\\n---\\n# Fjords")
    'Fjords'
    """
    lines = text[:_SNIFF].splitlines()
    for line, below in zip(lines, [*lines[1:], ""], strict=True):
        if line.startswith("# "):
            return line[2:].strip() or None
        title = line.strip()
        if title and _UNDERLINE.match(below) and len(below.strip()) >= len(title):
            return title
    return None


def _load_html(path: Path) -> Iterator[Item]:
    raw, replaced = decode_html(path.read_bytes())
    page = read_html(raw)
    if replaced:
        yield _replaced_note(path)
    if page.left_out:
        yield Note(str(path), page.left_out)
    else:
        yield Document(page.text, title=page.title or path.stem, position=path.stat().st_size)


def _load_pdf(path: Path) -> Iterator[Item]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        meta_title = reader.metadata.title if reader.metadata else None
        pages = clean_pages([page.extract_text() or "" for page in reader.pages])
    except (PdfReadError, ValueError, KeyError) as exc:
        yield Note(str(path), f"unreadable PDF: {exc}")
        return
    title = meta_title or path.stem
    if not any(text.strip() for text in pages):
        yield Note(str(path), "PDF has no extractable text (scanned?)")
        return
    size = path.stat().st_size
    lists = [number for number, text in enumerate(pages, 1) if is_contents_or_index(text)]
    if lists:
        yield Note(
            str(path),
            f"{page_ranges(lists)}: a table of contents or an index, not indexed "
            "(the pages it points at are)",
        )
    for number, text in enumerate(pages, 1):
        if text.strip() and number not in lists:
            yield Document(text, title=title, metadata={"page": number}, position=size)


def page_ranges(numbers: list[int]) -> str:
    """Ascending page numbers as a reader writes them.

    >>> page_ranges([2, 3, 4, 9, 11, 12])
    'pages 2–4, 9, 11–12'
    >>> page_ranges([7])
    'page 7'
    """
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    spans = [f"{run[0]}–{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs]
    return f"page{'s' if len(numbers) > 1 else ''} {', '.join(spans)}"


def _load_jsonl(path: Path) -> Iterator[Item]:
    """One document per line: {"id", "text", "title"?, ...metadata}."""
    seen: dict[str, int] = {}
    position = 0
    replaced = False
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, 1):
            position += len(raw)
            where = f"{path}:{line_no}"
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = raw.decode("utf-8", errors="replace")
                replaced = True
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Note(where, f"not JSON: {exc.msg}")
                continue
            if not isinstance(record, dict):
                yield Note(where, "not a JSON object")
                continue
            doc_id, text = record.get("id"), record.get("text")
            if not isinstance(doc_id, str | int) or str(doc_id) == "":
                yield Note(where, 'missing "id"')
                continue
            doc_id = str(doc_id)
            if not isinstance(text, str) or not text.strip():
                yield Note(where, f'id {doc_id!r}: missing or empty "text"')
                continue
            if doc_id in seen:
                yield Note(where, f"duplicate id {doc_id!r} (first kept, line {seen[doc_id]})")
                continue
            seen[doc_id] = line_no
            title = record.get("title")
            yield Document(
                text,
                title=str(title) if title else None,
                doc_id=doc_id,
                metadata=_metadata(record),
                position=position,
            )
    if replaced:
        yield _replaced_note(path)
    if not seen:
        yield Note(str(path), "no documents in JSONL")


def _metadata(record: dict[str, Any]) -> dict[str, Scalar]:
    """Extra JSONL keys as Chroma-storable scalars (others as JSON text)."""
    out: dict[str, Scalar] = {}
    for key, value in record.items():
        if key in {"id", "text", "title"} or value is None:
            continue
        if isinstance(value, str | int | float | bool):
            out[key] = value
        else:
            out[key] = json.dumps(value, ensure_ascii=False)
    return out
