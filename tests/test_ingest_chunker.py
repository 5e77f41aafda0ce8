"""The chunker and the format readers, without a database: boundaries, offsets, overlap, sections."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remlite.ingest.chunker import Section, Span, chunk
from remlite.ingest.formats import BadFile, content_type, decode, markdown_sections, parse
from remlite.ingest.html import extract

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"

# --------------------------------------------------------------------------- properties
WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzé", min_size=1, max_size=9)
SENTENCE = st.builds(
    lambda words, end: (" ".join(words)).capitalize() + end,
    st.lists(WORD, min_size=1, max_size=14),
    st.sampled_from([".", "!", "?", "…", '."', ""]),
)
PARAGRAPH = st.builds(
    lambda ss, sep: sep.join(ss), st.lists(SENTENCE, min_size=1, max_size=6), st.sampled_from([" ", "\n", "  "])
)
DOCUMENT = st.builds(
    lambda ps, sep, lead: lead + sep.join(ps), st.lists(PARAGRAPH, min_size=1, max_size=6),
    st.sampled_from(["\n\n", "\n\n\n", "\n  \n"]), st.sampled_from(["", "  ", "\n"]),
)  # fmt: skip
_SENTENCE_START = re.compile(r"(?:[.!?…][\"'”’)\]]*\s+|\n\s*\n\s*)$")  # what precedes a sentence


def check_chunks(text: str, spans: list[Span], size: int, overlap: int, max_word: int) -> None:
    """Every property a chunking must have (for text whose words are shorter than the size)."""
    covered = bytearray(len(text))
    previous: Span | None = None
    for span in spans:
        content = text[span.start : span.end]
        assert content and content == content.strip(), (span, content)
        assert len(content) <= size
        if max_word <= size:  # no mid-word cut: a chunk starts and ends next to whitespace or the text's ends
            assert span.start == 0 or text[span.start - 1].isspace(), (span, content)
            assert span.end == len(text) or text[span.end].isspace(), (span, content)
        covered[span.start : span.end] = b"\x01" * (span.end - span.start)
        if previous is not None:
            assert span.start > previous.start and span.end > previous.end
            shared = previous.end - span.start
            if shared > 0:  # overlap: whole sentences, at most `overlap` characters, inside a paragraph
                assert shared <= overlap, (previous, span)
                assert _SENTENCE_START.search(text[: span.start]), (previous, span)
                assert "\n\n" not in text[span.start : previous.end].replace(" ", "")
        previous = span
    for i, char in enumerate(text):
        assert covered[i] or char.isspace(), f"character {i} ({char!r}) is in no chunk"


@settings(max_examples=150, deadline=None)
@given(DOCUMENT, st.integers(min_value=40, max_value=400), st.integers(min_value=0, max_value=60))
def test_chunks_respect_boundaries_offsets_and_overlap(text: str, size: int, overlap: int) -> None:
    overlap = min(overlap, size - 1)
    spans = chunk(text, [Section(0, len(text))], size, overlap)
    check_chunks(text, spans, size, overlap, max_word=9)
    assert chunk(text, [Section(0, len(text))], size, overlap) == spans  # deterministic


def test_paragraphs_stay_whole_when_they_fit() -> None:
    paragraphs = [f"Paragraph {n} has a first sentence. And it has a second one too." for n in range(6)]
    text = "\n\n".join(paragraphs)
    spans = chunk(text, [Section(0, len(text))], 150, 30)
    contents = [text[s.start : s.end] for s in spans]
    assert contents == ["\n\n".join(paragraphs[i : i + 2]) for i in range(0, 6, 2)]


def test_long_paragraph_cut_between_sentences_with_overlap() -> None:
    sentences = [f"Sentence number {n} is here." for n in range(10)]  # 26-27 characters each
    text = " ".join(sentences)
    spans = chunk(text, [Section(0, len(text))], 90, 30)
    contents = [text[s.start : s.end] for s in spans]
    assert contents[0] == " ".join(sentences[:3])
    assert contents[1].startswith(sentences[2])  # one whole sentence of overlap (<= 30 characters)
    assert all(c.endswith(".") for c in contents)
    check_chunks(text, spans, 90, 30, max_word=10)


def test_a_word_longer_than_the_size_is_the_only_mid_word_cut() -> None:
    text = "Short words here. " + "x" * 50 + " and more words after it."
    spans = chunk(text, [Section(0, len(text))], 20, 0)
    assert max(s.end - s.start for s in spans) <= 20
    assert "".join(text[s.start : s.end] for s in spans if set(text[s.start : s.end]) == {"x"}) == "x" * 50


def test_chunks_never_cross_sections() -> None:
    text = "Alpha one. Alpha two.\n\nBeta one. Beta two."
    sections = [Section(0, 21, ["A"]), Section(23, len(text), ["B"], page=2)]
    spans = chunk(text, sections, 1000, 100)
    assert [(text[s.start : s.end], s.heading_path, s.page) for s in spans] == [
        ("Alpha one. Alpha two.", ["A"], None),
        ("Beta one. Beta two.", ["B"], 2),
    ]


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_bad_sizes(size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk("text", [Section(0, 4)], size, overlap)


# --------------------------------------------------------------------------- Markdown
def test_markdown_sections_heading_paths_and_title() -> None:
    text = (FIXTURES / "docs" / "guide.md").read_text()
    sections, title = markdown_sections(text)
    assert title == "The remlite Guide"  # front matter wins over the first heading
    assert [s.heading_path for s in sections] == [
        ["Getting started"],
        ["Getting started", "Installing"],
        ["Getting started", "Ingesting files"],
        ["Getting started", "Ingesting files", "Re-ingesting"],
        ["Questions"],  # a setext heading
    ]
    assert "title:" not in text[sections[0].start : sections[0].end]  # front matter is not content
    assert "# not a heading" in text[sections[1].start : sections[1].end]  # fenced code is not a heading


def test_markdown_heading_only_sections_yield_no_chunk() -> None:
    text = "# Top\n\n## Empty\n\n## Full\n\nBody text.\n"
    sections, title = markdown_sections(text)
    assert title == "Top"
    assert [(s.heading_path, text[s.start : s.end].strip()) for s in sections] == [
        (["Top", "Full"], "## Full\n\nBody text.")
    ]


def test_markdown_without_headings_is_one_section() -> None:
    sections, title = markdown_sections("just text\n\nmore text\n")
    assert title is None and len(sections) == 1 and sections[0].heading_path == []


# --------------------------------------------------------------------------- HTML
def test_html_drops_scripts_styles_and_navigation() -> None:
    text, sections, title = extract((FIXTURES / "docs" / "nested" / "page.html").read_text())
    assert title == "Release notes"
    for gone in ("tracking", "nor this", "color: red", "Home", "Previous topic", "¶"):
        assert gone not in text
    assert "Version 2 adds graph edges & moments." in text
    assert "remlite ingest docs/\nremlite search" in text  # <pre> keeps its line breaks
    assert [s.heading_path for s in sections] == [["Release notes"], ["Release notes", "Fixes"]]
    assert text[sections[1].start : sections[1].end].startswith("Fixes\n\nFaster batch inserts.\n\nSmaller indexes.")


def test_html_title_ignores_svg_titles() -> None:
    markup = "<title>Real</title><body><svg><title>icon</title></svg><p>Text<svg><title>x</title></svg></p>"
    text, _, title = extract(markup)
    assert (title, text) == ("Real", "Text")


def test_html_title_falls_back_to_first_h1_and_survives_bad_markup() -> None:
    text, sections, title = extract("<body><h1>Head</h1><p>one<p>two &lt;b&gt;<div><span>three")
    assert title == "Head"
    assert text == "Head\n\none\n\ntwo <b>\n\nthree"
    assert sections == [Section(0, len(text), ["Head"])]


# --------------------------------------------------------------------------- detection and decoding
@pytest.mark.parametrize(
    ("name", "kind"),
    [("a.md", "text/markdown"), ("a.HTML", "text/html"), ("a.rst.txt", "text/plain"), ("a.pdf", "application/pdf"),
     ("a.jsonl", "application/jsonl"), ("a.bin", None)],
)  # fmt: skip
def test_content_type(name: str, kind: str | None) -> None:
    assert content_type(Path(name)) == kind


def test_decode_refuses_binary_and_invalid_utf8() -> None:
    assert decode("\ufeffhé".encode()) == "hé"
    with pytest.raises(BadFile, match="binary"):
        decode(b"abc\x00def")
    with pytest.raises(BadFile, match="not UTF-8"):
        decode(b"caf\xe9")


def test_broken_pdf_and_bad_jsonl_are_bad_files() -> None:
    with pytest.raises(BadFile, match="broken PDF"):
        parse(Path("x.pdf"), b"%PDF-1.4\nnot really a pdf", "application/pdf")
    with pytest.raises(BadFile, match="line 2: not valid JSON"):
        parse(Path("x.jsonl"), b'{"a": 1}\n{oops\n', "application/jsonl")
    with pytest.raises(BadFile, match="line 1: a record must be a JSON object"):
        parse(Path("x.jsonl"), b"[1, 2]\n", "application/jsonl")


def test_markdown_headings_come_from_a_parser_not_from_lines() -> None:
    """`#` lines inside an HTML block, a block quote or code are content, not headings."""
    from remlite.ingest.formats import markdown_sections

    text = (
        "# Guide\n\nIntro.\n\n<div>\n# not a heading\n</div>\n\n> # quoted, not a heading\n\n"
        "```\n# code\n```\n\n    # indented code\n\nSetext\n------\n\nBody.\n"
    )
    sections, title = markdown_sections(text)
    assert title == "Guide"
    assert [s.heading_path for s in sections] == [["Guide"], ["Guide", "Setext"]]
