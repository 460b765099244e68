"""Ingestion: loaders, chunking, and idempotent, resumable indexing into a store."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from rankgraph.errors import IngestError
from rankgraph.retrieval import Retriever, Store, index_paths
from rankgraph.retrieval.loaders import Document, Note, load
from rankgraph.retrieval.store import Chunk
from rankgraph.schema import Passage
from tests.retrieval_fixtures import (
    make_settings,
    make_store,
    shared_embedder,
    write_corpus_slice,
)


def _tree(root: Path) -> Path:
    src = root / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.md").write_text("# Fjords\n\nGlaciers carved the fjords of Norway.\n")
    (src / "sub" / "b.txt").write_text("The quokka is a small marsupial from Western Australia.")
    (src / "c.html").write_text(
        "<html><head><title>Tea</title><script>var x = 'hidden';</script></head>"
        "<body><h1>Tea</h1><p>Green tea is unoxidised.</p></body></html>"
    )
    return src


def _pdf(*pages: tuple[str, ...]) -> bytes:
    """A PDF with these pages, each of these lines in Helvetica (enough for pypdf)."""
    count = len(pages)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % (4 + 2 * n) for n in range(count)), count),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for n, lines in enumerate(pages):
        shown = " 0 -14 Td ".join(f"({line}) Tj" for line in lines)
        stream = f"BT /F1 12 Tf 72 720 Td {shown} ET".encode()
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R >> >> >>" % (5 + 2 * n)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


def _passages_of(store: Store, source: Path) -> list[Passage]:
    """The stored chunks of one file, in document order."""
    found = store.passages(sorted(store.ids_where({"source": str(source.resolve())})))
    return sorted(found.values(), key=lambda p: (p.metadata.get("doc_id", ""), p.metadata["start"]))


def _sources(store: Store) -> set[str]:
    return {Path(s).name for s in store.sources()}


def test_reindexing_an_unchanged_tree_adds_nothing(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    store = make_store(tmp_path)
    first = index_paths(store, [src])
    assert len(first.added) == 3 and first.chunks_added == 3
    again = index_paths(store, [src])
    assert again.added == again.updated == again.removed == ()
    assert len(again.unchanged) == 3
    assert again.chunks_added == again.chunks_removed == 0
    assert store.count() == 3


def test_a_changed_file_replaces_its_chunks(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    store = make_store(tmp_path)
    index_paths(store, [src])
    note = src / "sub" / "b.txt"
    note.write_text("The axolotl is a salamander that stays aquatic.")
    report = index_paths(store, [src])
    assert report.updated == (str(note.resolve()),)
    assert report.chunks_added == 1 and report.chunks_removed == 1
    texts = [p.text for p in _passages_of(store, note)]
    assert texts == ["The axolotl is a salamander that stays aquatic."]
    assert store.count() == 3


def test_new_chunk_sizes_rechunk_files_indexed_before(tmp_path: Path) -> None:
    """The manifest skips unchanged files only if they would be chunked the same way."""
    doc = tmp_path / "long.md"
    doc.write_text("\n\n".join(f"River {i} runs into lake {i} in the north." for i in range(60)))
    store = make_store(tmp_path)
    index_paths(store, [doc], chunk_tokens=64, chunk_overlap=0)
    small = set(store.ids_where({"source": str(doc.resolve())}))
    report = index_paths(store, [doc], chunk_tokens=256, chunk_overlap=0)
    assert report.updated == (str(doc.resolve()),) and report.unchanged == ()
    large = _passages_of(store, doc)
    assert len(large) < len(small) and not small & {p.id for p in large}
    assert max(shared_embedder().count_tokens(p.text) for p in large) > 64
    again = index_paths(store, [doc], chunk_tokens=256, chunk_overlap=0)
    assert again.unchanged == (str(doc.resolve()),) and again.chunks_added == 0


def test_sync_drops_chunks_of_files_that_are_gone_and_plain_runs_keep_them(
    tmp_path: Path,
) -> None:
    src = _tree(tmp_path)
    store = make_store(tmp_path)
    index_paths(store, [src])
    (src / "a.md").unlink()
    kept = index_paths(store, [src])
    assert kept.removed == () and "a.md" in _sources(store)
    synced = index_paths(store, [src], sync=True)
    assert [Path(s).name for s in synced.removed] == ["a.md"]
    assert _sources(store) == {"b.txt", "c.html"}
    assert store.count() == 2


def test_jsonl_duplicate_ids_are_reported_and_the_first_is_kept(tmp_path: Path) -> None:
    corpus = tmp_path / "docs.jsonl"
    rows = [
        {"id": "x", "title": "First", "text": "The first version of x.", "topic": "t"},
        {"id": "y", "title": "Other", "text": "Another document."},
        {"id": "x", "title": "Second", "text": "A later duplicate of x."},
        {"title": "No id", "text": "no id here"},
    ]
    corpus.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    store = make_store(tmp_path)
    report = index_paths(store, [corpus])
    reasons = dict(report.skipped)
    assert "duplicate id 'x' (first kept, line 1)" in reasons[f"{corpus}:3"]
    assert 'missing "id"' in reasons[f"{corpus}:4"]
    assert "not JSON" in reasons[f"{corpus}:5"]
    passages = [p for p in _passages_of(store, corpus) if p.metadata["doc_id"] == "x"]
    assert [(p.title, p.text, p.metadata["topic"]) for p in passages] == [
        ("First", "The first version of x.", "t")
    ]
    assert store.count() == 2


def test_binary_and_empty_files_are_skipped_with_reasons_and_the_rest_indexed(
    tmp_path: Path,
) -> None:
    src = _tree(tmp_path)
    (src / "empty.txt").write_text("")
    (src / "blank.md").write_text("  \n\n ")
    (src / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (src / "data.bin").write_bytes(b"\x00\x01")
    report = index_paths(make_store(tmp_path), [src])
    reasons = {Path(where).name: why for where, why in report.skipped}
    assert reasons["empty.txt"] == "empty file"
    assert "only whitespace" in reasons["blank.md"]
    assert "binary" in reasons["image.txt"]
    assert "unsupported file type" in reasons["data.bin"]
    assert len(report.added) == 3


def test_undecodable_bytes_are_replaced_and_warned_not_skipped(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("Café au lait in Montréal".encode("latin-1"))
    store = make_store(tmp_path)
    report = index_paths(store, [bad])
    assert report.added == (str(bad.resolve()),)
    assert report.warnings == ((str(bad), "invalid UTF-8 bytes replaced with U+FFFD"),)
    [passage] = _passages_of(store, bad)
    assert passage.text == "Caf\ufffd au lait in Montr\ufffdal"


def test_a_missing_path_raises_before_anything_is_indexed(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    store = make_store(tmp_path)
    with pytest.raises(IngestError, match=r"path not found: .*nope"):
        index_paths(store, [src, tmp_path / "nope"], sync=True)
    assert store.count() == 0


def test_html_gives_its_title_and_visible_text_and_pdf_its_pages(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    (src / "glaciers.pdf").write_bytes(_pdf(("Glaciers carve fjords in Norway.",)))
    store = make_store(tmp_path)
    index_paths(store, [src])
    [html] = _passages_of(store, src / "c.html")
    assert html.title == "Tea"
    assert "Green tea is unoxidised." in html.text and "hidden" not in html.text
    [pdf] = _passages_of(store, src / "glaciers.pdf")
    assert pdf.text == "Glaciers carve fjords in Norway." and pdf.metadata["page"] == 1


def test_a_pdf_word_split_at_a_line_end_is_indexed_and_found_whole(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    lines = (
        "Libtasn1 provides ASN.1 parsing and structures man-",
        "agement, and DER encod-",
        "ing.",
    )
    (src / "libtasn1.pdf").write_bytes(_pdf(lines))
    store = make_store(tmp_path)
    index_paths(store, [src])
    [page] = _passages_of(store, src / "libtasn1.pdf")
    assert "structures management, and DER encoding." in page.text
    retriever = Retriever(store, make_settings(tmp_path).retrieval)
    assert [hit.id for hit in retriever.search("management", k=1, mode="bm25")] == [page.id]


def test_a_pdf_is_indexed_without_its_running_headers_and_page_numbers(tmp_path: Path) -> None:
    """A manual's pages as pypdf reads them: the chapter and page number on top of each
    page, a number alone at the foot of some. Pages 5 to 7 of the file are printed 10 to
    12; the front matter is numbered i, ii."""
    src = tmp_path / "src"
    src.mkdir()
    body = [
        ("3.2.1 Simple Commands", "A simple command is a sequence of words separated by blanks."),
        (
            "3.2.3 Pipelines",
            "A pipeline is a sequence of one or more commands separated by one of the control",
            "operators | or |&.",
            "ls -l | grep bash",
        ),
        ("3.2.4 Lists", "A list is a sequence of one or more pipelines.", "12"),
    ]
    front = [("Bash Reference Manual",), ("Table of Contents",), ("i",), ("ii",)]
    pages = front + [
        (f"Chapter 3: Basic Shell Features {number}", *lines)
        for number, lines in enumerate(body, 10)
    ]
    (src / "bashref.pdf").write_bytes(_pdf(*pages))
    store = make_store(tmp_path)
    index_paths(store, [src])
    by_page = {p.metadata["page"]: p.text for p in _passages_of(store, src / "bashref.pdf")}
    assert by_page[6] == (
        "3.2.3 Pipelines\n"
        "A pipeline is a sequence of one or more commands separated by one of the control\n"
        "operators | or |&.\n"
        "ls -l | grep bash"
    )
    assert by_page[7] == "3.2.4 Lists\nA list is a sequence of one or more pipelines."
    assert not any("Chapter 3" in text for text in by_page.values())
    assert by_page[1] == "Bash Reference Manual"


def test_a_pdf_table_of_contents_is_not_indexed_and_the_report_says_so(tmp_path: Path) -> None:
    """Its entries hold every word of the titles and answer nothing (an index page is
    read the same way): the pages they point at are indexed instead."""
    src = tmp_path / "src"
    src.mkdir()
    titles = ["Introduction", "Simple Commands", "Pipelines", "Lists", "Compound Commands"]
    titles += ["Looping Constructs", "Conditional Constructs", "Grouping Commands"]
    entries = [f"3.{n} {title} . . . . . . . . . . {n + 2}" for n, title in enumerate(titles, 1)]
    contents = ("Table of Contents", *entries)
    body = ("3.3 Pipelines", "A pipeline is a sequence of one or more commands.")
    (src / "bashref.pdf").write_bytes(_pdf(("Bash Reference Manual",), contents, body))
    store = make_store(tmp_path)
    report = index_paths(store, [src])
    pages = [p.metadata["page"] for p in _passages_of(store, src / "bashref.pdf")]
    assert pages == [1, 3]
    assert report.skipped == (
        (
            str(src / "bashref.pdf"),
            "page 2: a table of contents or an index, not indexed (the pages it points at are)",
        ),
    )


_DOCS_PAGE = """<!DOCTYPE html>
<html><head><title>Documentation tests - The rustdoc book</title></head><body>
<div id="help"><h2>Keyboard shortcuts</h2><p>Press <kbd>S</kbd> to search in the book</p></div>
<nav class="sidebar"><ol class="chapter">
<li><a href="intro.html">What is rustdoc?</a></li><li><a href="lints.html">Lints</a></li>
<li><a href="tests.html">Documentation tests</a></li>
<li><a href="flags.html">Unstable flags</a></li>
</ol></nav>
<main><h1>Documentation tests</h1>
<p><code>rustdoc</code> supports executing your documentation examples as tests.
This makes sure that examples within your documentation are up to date and working.</p>
<h2>Attributes</h2>
<p>Code blocks can be annotated with attributes that tell <code>rustdoc</code> how to build
the example. You can also indent each line by four or more spaces, but there is no way
to use attributes such as <code>ignore</code> or <code>should_panic</code> with indented
code blocks, so fenced code blocks are preferable.</p>
<pre><code>let foo = "foo";
assert_eq!(foo, "foo");
</code></pre>
<p>If the example panics, the <em>should_panic</em> attribute makes the test pass.</p>
</main>
<footer><a href="prev.html">Previous chapter</a> <a href="next.html">Next chapter</a></footer>
</body></html>
"""


def test_html_keeps_the_pages_sentences_whole_and_leaves_out_its_menus(
    tmp_path: Path,
) -> None:
    """Inline code stays inside its sentence; sidebars and keyboard help are not text."""
    page = tmp_path / "tests.html"
    page.write_text(_DOCS_PAGE)
    store = make_store(tmp_path)
    index_paths(store, [page])
    passages = _passages_of(store, page)
    assert {p.title for p in passages} == {"Documentation tests - The rustdoc book"}
    text = "\n".join(p.text for p in passages)
    assert "attributes such as ignore or should_panic with indented" in text
    assert 'let foo = "foo";\nassert_eq!(foo, "foo");' in text
    for chrome in ("Keyboard shortcuts", "Unstable flags", "Next chapter"):
        assert chrome not in text


def test_html_pages_of_links_and_redirects_are_not_indexed_and_a_page_citing_links_is(
    tmp_path: Path,
) -> None:
    """A table of contents or an index holds every title's words and answers nothing,
    a redirect stub says only where it leads; a page that cites a dozen others inside
    its sentences still says something."""
    src = tmp_path / "site"
    src.mkdir()
    chapters = ["Command-line arguments", "Lints", "Documentation tests", "Unstable flags"]
    chapters += ["Scraped examples", "Advanced features", "Re-exports", "Search", "Passes"]
    chapters += ["Linking to items by name", "What to include", "The #[doc] attribute"]
    toc = "".join(f'<li><a href="c{n}.html">{n}. {t}</a></li>' for n, t in enumerate(chapters))
    (src / "toc.html").write_text(f"<html><body><ol class='chapter'>{toc}</ol></body></html>")
    entries = "".join(
        f'<tr><td><a href="c{n}.html#{n}"><code>{t.split()[0].lower()}</code></a></td>'
        f'<td><a href="c{n}.html">{n}.{n + 1}</a></td></tr>'
        for n, t in enumerate(chapters)
    )
    (src / "genindex.html").write_text(
        f"<html><body><h1>Index</h1><table>{entries}</table></body></html>"
    )
    (src / "tests.html").write_text(_DOCS_PAGE)
    cites = " ".join(
        f'<p>The <a href="c{n}.html">{t}</a> chapter explains when rustdoc reads it, '
        "and what the reader of the generated page then sees.</p>"
        for n, t in enumerate(chapters)
    )
    (src / "guide.html").write_text(f"<html><body><h1>Guide</h1>{cites}</body></html>")
    (src / "passes.html").write_text(
        '<html><head><meta http-equiv="refresh" content="0; URL=deprecated.html#passes">'
        '</head><body><p>Redirecting to... <a href="deprecated.html#passes">'
        "deprecated.html#passes</a>.</p></body></html>"
    )
    store = make_store(tmp_path)
    report = index_paths(store, [src])
    assert _sources(store) == {"tests.html", "guide.html"}
    reason = (
        "mostly links (a table of contents, an index or a site map), not indexed "
        "(the pages it links to are)"
    )
    assert set(report.skipped) == {
        (str(src / "toc.html"), reason),
        (str(src / "genindex.html"), reason),
        (str(src / "passes.html"), "a redirect to deprecated.html#passes, not indexed"),
    }


def test_a_restructuredtext_file_is_indexed_under_its_first_heading(tmp_path: Path) -> None:
    """Sphinx projects keep their docs as .rst; the underlined heading is the title."""
    page = tmp_path / "install.rst"
    page.write_text(
        ".. _install:\n\n==================\nInstalling Sphinx\n==================\n\n"
        "Sphinx is written in Python and supports Python 3.10+.\n"
    )
    store = make_store(tmp_path)
    index_paths(store, [page])
    [passage] = _passages_of(store, page)
    assert passage.title == "Installing Sphinx"
    assert "supports Python 3.10+." in passage.text


def test_an_html_page_in_the_charset_it_declares_is_read_in_it(tmp_path: Path) -> None:
    """Docs generated before UTF-8 was the default are Latin-1 and say so in a <meta>."""
    page = tmp_path / "python.html"
    page.write_bytes(
        b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
        b"</head><body><p>St\xe9phane Bidoul maintains the Windows port \x96 with "
        b"bindings.</p></body></html>"
    )
    store = make_store(tmp_path)
    report = index_paths(store, [page])
    [passage] = _passages_of(store, page)
    assert passage.text == "Stéphane Bidoul maintains the Windows port – with bindings."
    assert report.warnings == ()


def test_an_html_fragment_is_read_and_a_page_without_text_skipped_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No library chatter: the index report is where the user hears about a page."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "fragment.html").write_text("<p>The <b>quokka</b> is a small marsupial.</p>")
    (src / "empty.html").write_text("<html><body><script>var x = 1;</script></body></html>")
    store = make_store(tmp_path)
    with caplog.at_level(logging.INFO):
        report = index_paths(store, [src])
    [fragment] = _passages_of(store, src / "fragment.html")
    assert fragment.text == "The quokka is a small marsupial."
    assert report.skipped == ((str(src / "empty.html"), "no text in HTML"),)
    assert not [r for r in caplog.records if r.name.startswith("trafilatura")]


def test_chunks_fit_the_token_budget_and_their_offsets_point_into_the_file(
    tmp_path: Path,
) -> None:
    doc = tmp_path / "long.md"
    paragraphs = [f"Paragraph {i} is about the river number {i} and its delta." for i in range(40)]
    doc.write_text("# Rivers\n\n" + "\n\n".join(paragraphs))
    store = make_store(tmp_path, chunk_tokens=64, chunk_overlap=8)
    index_paths(store, [doc], chunk_tokens=64, chunk_overlap=8)
    chunks = _passages_of(store, doc)
    assert len(chunks) > 5
    text = doc.read_text()
    for chunk in chunks:
        assert text[chunk.metadata["start"] : chunk.metadata["end"]] == chunk.text
        assert shared_embedder().count_tokens(chunk.text) <= 64
        assert chunk.title == "Rivers"


def test_indexing_a_document_longer_than_the_model_window_warns_of_no_truncation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Measuring a whole document before splitting it is not a truncation: no warning.

    The tokenizer warns once per instance, so the test clears that memory first.
    """
    doc = tmp_path / "long.md"
    paragraph = " ".join(f"The river number {i} reaches the sea." for i in range(60))
    doc.write_text(f"{paragraph}\n\n{paragraph}")
    tokenizer = shared_embedder().model.tokenizer
    tokenizer.deprecation_warnings.pop("sequence-length-is-longer-than-the-specified-maximum", None)
    transformers_log = logging.getLogger("transformers")  # it does not propagate to the root
    transformers_log.addHandler(caplog.handler)
    try:
        index_paths(make_store(tmp_path), [doc])
    finally:
        transformers_log.removeHandler(caplog.handler)
    assert "indexing errors" not in caplog.text
    chunks = _passages_of(make_store(tmp_path), doc)
    assert len(chunks) > 1
    assert max(shared_embedder().count_tokens(c.text) for c in chunks) <= 200


class _FailingStore(Store):
    """A store whose second write fails, as if the process were killed mid-run."""

    writes = 0

    def add(self, chunks: list[Chunk]) -> None:  # type: ignore[override]
        type(self).writes += 1
        if type(self).writes == 2:
            raise KeyboardInterrupt
        super().add(chunks)


def test_an_interrupted_run_leaves_a_usable_store_and_a_rerun_completes_it(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "c.jsonl"
    write_corpus_slice(corpus, 12)
    settings = make_settings(tmp_path)
    failing = _FailingStore.from_settings(settings, embedder=shared_embedder())
    with pytest.raises(KeyboardInterrupt):
        index_paths(failing, [corpus], write_batch=4)
    store = make_store(tmp_path)
    partial = store.count()
    assert 0 < partial < 12
    assert Retriever(store, settings.retrieval).search("music", k=2, mode="bm25")

    report = index_paths(store, [corpus], write_batch=4)
    assert report.added == (str(corpus.resolve()),)
    assert report.chunks_added == store.count() - partial
    assert len({p.metadata["doc_id"] for p in _passages_of(store, corpus)}) == 12


def test_a_large_text_file_is_streamed_in_segments_with_exact_offsets(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    line = "All work and no play makes a dull index.\n"
    big.write_text(line * 60_000)  # about 2.4 MB, more than two segments
    items = list(load(big))
    docs = [i for i in items if isinstance(i, Document)]
    assert not [i for i in items if isinstance(i, Note)]
    assert len(docs) >= 2
    text = big.read_text()
    assert "".join(d.text for d in docs) == text
    assert all(text[d.offset : d.offset + len(d.text)] == d.text for d in docs)
