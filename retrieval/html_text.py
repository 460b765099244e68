"""Read a saved HTML page as the text a person reads on it, and tell a page of links
(a table of contents, an index, a site map) from a page that says something.
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxml.html import HtmlElement

# trafilatura warns "discarding data" for a page with no main content; `read_html` then
# reads all its visible text, and the loader says so itself when there is none.
logging.getLogger("trafilatura").setLevel(logging.ERROR)
# Menus: a page's own navigation, which a content page may hold more links in than words.
_MENU = (
    "self::script or self::style or self::noscript or self::template or self::nav"
    " or self::aside or self::header or self::footer or @role='navigation'"
)
_WORDS = f"//body//text()[not(ancestor::*[{_MENU}])]"
_LINKED_WORDS = f"//body//text()[not(ancestor::*[{_MENU}])][ancestor::a[@href]]"
_LINKS = f"//body//a[@href][not(ancestor::*[{_MENU}])]"
# At or above this share of link words, with this many links, a page is a list of links.
_LINK_SHARE = 0.6
_MIN_LINKS = 10

# <meta charset="…"> or <meta http-equiv="Content-Type" content="text/html; charset=…">
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_PRESCAN = 4096  # bytes searched for the declaration (the HTML standard says 1,024)
# The HTML standard reads these labels as windows-1252, which has 27 more characters.
_AS_CP1252 = {"ascii", "iso8859-1"}


def decode_html(data: bytes) -> tuple[str, bool]:
    """A saved page's text, and whether bytes had to be replaced with U+FFFD.

    UTF-8 when the bytes are UTF-8 (a page that declares Latin-1 but is UTF-8 is
    common); else the charset the page declares in a <meta> tag; else UTF-8 with the
    bad bytes replaced. Why: docs sites generated before UTF-8 was the default are
    Latin-1, and reading them as UTF-8 turned "Stéphane" into "St\ufffdphane".

    >>> decode_html('<meta charset="iso-8859-1"><p>Stéphane</p>'.encode("latin-1"))
    ('<meta charset="iso-8859-1"><p>Stéphane</p>', False)
    >>> decode_html("<p>Stéphane</p>".encode("latin-1"))
    ('<p>St\ufffdphane</p>', True)
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16"
    else:
        try:
            return data.decode("utf-8"), False
        except UnicodeDecodeError:
            codec = _declared_codec(data[:_PRESCAN])
    text = data.decode(codec, errors="replace")
    return text, "\ufffd" in text


def _declared_codec(head: bytes) -> str:
    declared = _META_CHARSET.search(head)
    try:
        codec = codecs.lookup(declared.group(1).decode("ascii")).name if declared else "utf-8"
    except LookupError:  # a label Python does not know
        return "utf-8"
    return "cp1252" if codec in _AS_CP1252 else codec


# <meta http-equiv="refresh" content="0; url=…">: a stub that sends the browser on.
_REFRESH = "//meta[translate(@http-equiv, 'REFSH', 'refsh')='refresh']/@content"
_REFRESH_URL = re.compile(r"url\s*=\s*['\"]?([^'\"]+)", re.IGNORECASE)
_STUB_WORDS = 30  # a redirect page with more words than this says something itself


@dataclass(frozen=True)
class HtmlPage:
    title: str | None
    text: str
    lists_links: bool  # a table of contents, an index or a site map (`is_link_list`)
    redirect: str | None = None  # where a stub page sends the reader ("Redirecting to…")

    @property
    def left_out(self) -> str | None:
        """Why `rankgraph index` does not index this page, or None when it does."""
        if not self.text.strip():
            return "no text in HTML"
        if self.redirect:
            return f"a redirect to {self.redirect}, not indexed"
        if self.lists_links:
            return (
                "mostly links (a table of contents, an index or a site map), not indexed "
                "(the pages it links to are)"
            )
        return None


def read_html(raw: str) -> HtmlPage:
    """The page's <title>, its main content as text (a line per block), and whether it
    only lists links.

    trafilatura (the extractor Haystack's HTML converter uses) drops navigation, menus,
    cookie banners and footers, and keeps inline code and links inside their sentence.
    Reading every text node instead broke "use attributes such as <code>ignore</code>"
    into three lines and put a docs site's sidebar and keyboard help at the top of every
    page. Plain text rather than markdown: prompts show a passage on one line, where
    heading marks and code fences would be noise (docs/benchmarks.md, "Session 18").
    A page with no main content gives all its visible text.
    """
    import trafilatura

    raw = raw.lstrip()
    if "html" not in raw[:50].lower():  # a fragment such as "<p>…</p>": make it a page
        raw = f"<html><body>{raw}</body></html>"
    tree = trafilatura.load_html(raw)
    if tree is None:
        return HtmlPage(None, "", lists_links=False)
    title = " ".join(tree.findtext(".//title", default="").split()) or None
    lists_links = is_link_list(tree)
    text = trafilatura.extract(tree, favor_recall=True, include_tables=True)
    text = text or trafilatura.html2txt(tree)
    return HtmlPage(title, text, lists_links, _redirect(tree, text))


def _redirect(tree: HtmlElement, text: str) -> str | None:
    """Where a redirect stub sends the browser: a page renamed in a docs site leaves one
    behind ("Redirecting to… write-documentation/documentation-tests.html"): six of the 159
    pages of session 18's docs set, eight of Sphinx's own. Its text is a link, not
    content."""
    for content in tree.xpath(_REFRESH):
        target = _REFRESH_URL.search(content)
        if target and len(text.split()) <= _STUB_WORDS:
            return target.group(1).strip()
    return None


def is_link_list(tree: HtmlElement) -> bool:
    """True for a page whose words are mostly the text of its links, menus left out:
    a table of contents, an index, a site map or an API symbol list.

    Why: like a PDF's contents pages, such a page holds every term of the titles it
    lists and no statement about them, so it ranks high for a question and answers
    nothing. Menus (<nav>, <header>, <footer>, <aside>, role="navigation") do not count,
    so a short page inside a site's sidebar is not one. Of 1,840 saved pages of eight
    docs sites (the Rust books and std, Node.js, npm, libxslt, valgrind, libffi,
    Sphinx) the 42 at 0.6 or more were contents pages, indexes, symbol lists and one
    list of project names; the most linked page that says something read 0.57
    (docs/benchmarks.md, "Session 24").

    >>> import lxml.html
    >>> toc = "".join(f'<li><a href="c{n}.html">Chapter {n}</a></li>' for n in range(12))
    >>> is_link_list(lxml.html.fromstring(f"<html><body><ol>{toc}</ol></body></html>"))
    True
    >>> prose = "<p>Tags that read as a semver range are rejected.</p>" * 3
    >>> is_link_list(lxml.html.fromstring(
    ...     f"<html><body><nav><ol>{toc}</ol></nav>{prose}</body></html>"))
    False
    """
    if len(tree.xpath(_LINKS)) < _MIN_LINKS:
        return False
    words = sum(len(text.split()) for text in tree.xpath(_WORDS))
    linked = sum(len(text.split()) for text in tree.xpath(_LINKED_WORDS))
    return linked >= _LINK_SHARE * words
