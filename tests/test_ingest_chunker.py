"""The chunker and the format readers, without a database: boundaries, offsets, overlap, sections."""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remlite.ingest.chunker import Section, Span, chunk
from remlite.ingest.formats import MARKDOWN, BadFile, content_type, decode, markdown_sections, parse
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
LONG_PARAGRAPH = st.builds(
    lambda ss, sep: sep.join(ss), st.lists(SENTENCE, min_size=1, max_size=60), st.sampled_from([" ", "\n", "  "])
)
LONG_DOCUMENT = st.builds(lambda ps: "\n\n".join(ps), st.lists(LONG_PARAGRAPH, min_size=1, max_size=6))
MANY_SENTENCES = st.builds(
    lambda ps: "\n\n".join(ps),
    st.lists(st.builds(" ".join, st.lists(SENTENCE, min_size=20, max_size=60)), min_size=1, max_size=4),
)  # long paragraphs, where greedy packing moved every boundary after an edit
_SENTENCE_START = re.compile(r"(?:[.!?…][\"'”’)\]]*\s+|\n\s*\n\s*)$")  # what precedes a sentence
_TOKEN = re.compile(r"\w+|[^\w\s]")


def word_tokens(texts: list[str]) -> list[int]:
    """A stand-in tokenizer: a token per word or punctuation mark, plus two of its own per text (as
    [CLS] and [SEP]); like WordPiece, its tokens never span whitespace."""
    return [2 + len(_TOKEN.findall(text)) for text in texts]


def spanning_tokens(texts: list[str]) -> list[int]:
    """A tokenizer whose tokens span whitespace (a token per 3 characters, spaces included), so a
    text counts more than the sum of its sentences: the chunker must count near-full chunks whole."""
    return [1 + (len(text) + 2) // 3 for text in texts]


def check_chunks(
    text: str, spans: list[Span], size: int, overlap: int, max_word: int, count: Any = None, sections: Any = None
) -> None:
    """Every property a chunking must have (for text whose words are shorter than the size)."""
    covered = bytearray(len(text))
    for section in sections or []:  # what no section holds (a heading-only section's heading) is in no chunk
        covered[:] = bytes(a or int(not section.start <= i < section.end) for i, a in enumerate(covered))
    previous: Span | None = None
    contents = [text[span.start : span.end] for span in spans]
    sizes = count(contents) if count is not None else [len(c) for c in contents]
    for span, content, measured in zip(spans, contents, sizes, strict=True):
        assert content and content == content.strip(), (span, content)
        assert measured <= size, (measured, size, content)  # the cap, as the counter counts the chunk
        if max_word <= size:  # no mid-word cut: a chunk starts and ends next to whitespace or the text's ends
            assert span.start == 0 or text[span.start - 1].isspace(), (span, content)
            assert span.end == len(text) or text[span.end].isspace(), (span, content)
        covered[span.start : span.end] = b"\x01" * (span.end - span.start)
        if previous is not None:
            assert span.start > previous.start and span.end > previous.end
            shared = previous.end - span.start
            if shared > 0:  # overlap: whole sentences, at most `overlap`, inside a paragraph
                repeated = text[span.start : previous.end]
                assert (count([repeated])[0] - count([""])[0] if count else shared) <= overlap, (previous, span)
                assert _SENTENCE_START.search(text[: span.start]), (previous, span)
                assert "\n\n" not in repeated.replace(" ", "")
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


@settings(max_examples=150, deadline=None)
@given(LONG_DOCUMENT, st.integers(min_value=12, max_value=120), st.integers(min_value=0, max_value=12))
def test_no_chunk_exceeds_the_size_in_tokens(text: str, size: int, overlap: int) -> None:
    """Sizes in a tokenizer's tokens: the chunk as a whole, counted by the tokenizer, fits."""
    overlap = min(overlap, size - 3)
    spans = chunk(text, [Section(0, len(text))], size, overlap, word_tokens)
    check_chunks(text, spans, size, overlap, max_word=1, count=word_tokens)
    assert chunk(text, [Section(0, len(text))], size, overlap, word_tokens) == spans


@settings(max_examples=100, deadline=None)
@given(LONG_DOCUMENT, st.integers(min_value=20, max_value=120))
def test_the_cap_holds_for_a_tokenizer_whose_tokens_span_whitespace(text: str, size: int) -> None:
    spans = chunk(text, [Section(0, len(text))], size, size // 10, spanning_tokens)
    check_chunks(text, spans, size, size // 10, max_word=3 * size, count=spanning_tokens)


def _edit(text: str, pick: int, op: str, word: str) -> tuple[str, int, int, int, int]:
    """`text` with one word replaced, inserted or deleted: (new text, old [a, b), new [lo, hi))."""
    words = list(re.finditer(r"\S+", text))
    a, b = words[pick % len(words)].span()
    if op == "replace":
        return text[:a] + word + text[b:], a, b, a, a + len(word)
    if op == "insert":
        return text[:a] + word + " " + text[a:], a, a, a, a + len(word)
    return text[:a] + text[b:], a, b, a, a


@settings(max_examples=200, deadline=None)
@given(
    MANY_SENTENCES,
    st.integers(min_value=20, max_value=120),
    st.integers(min_value=0, max_value=10**9),
    st.sampled_from(["replace", "insert", "delete"]),
    st.sampled_from(["zebra", "x", "Capital", "end."]),
    st.booleans(),
)
def test_an_edit_changes_only_chunks_near_it(text: str, size: int, pick: int, op: str, word: str, tokens: bool) -> None:
    """Boundaries are content-defined: every chunk further than twice the size from a one-word edit
    (replace, insert, delete — also one that joins or splits sentences) comes out exactly the same.
    (Greedy packing failed this: an edit shifted every later boundary of its paragraph.)"""
    count = word_tokens if tokens else None
    size = size if tokens else 4 * size
    new, a, b, _, _ = _edit(text, pick, op, word)
    after = {new[s.start : s.end] for s in chunk(new, [Section(0, len(new))], size, size // 10, count)}

    def distance(start: int, end: int) -> int:
        return word_tokens([text[start:end]])[0] - 2 if tokens else end - start

    for span in chunk(text, [Section(0, len(text))], size, size // 10, count):
        far = distance(span.end, a) if span.end <= a else distance(b, span.start) if span.start >= b else 0
        if far > 2 * size:
            assert text[span.start : span.end] in after, (span, far)


def test_a_one_word_edit_rewrites_the_chunks_holding_it_and_rarely_one_more() -> None:
    """Over 400 random one-word edits of generated prose (sizes in tokens, the default shape: a
    tenth of overlap), the chunks an edit creates are those holding it plus at most one other in at
    least 98% of edits, and never more than 3 others. Not a property of every edit: no chunker that
    packs (rather than cutting at every sentence) can promise it — an edit that makes a chunk's text
    no longer fit must move a boundary, and a boundary's score may change with its words."""
    rng = random.Random(15)
    vocabulary = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 9))) for _ in range(500)
    ]

    def sentence() -> str:
        words = rng.choices(vocabulary, k=rng.randint(3, 25))
        return " ".join(words).capitalize() + rng.choice([".", ".", ".", "?", "!"])

    documents = [
        "\n\n".join(" ".join(sentence() for _ in range(rng.randint(1, 30))) for _ in range(rng.randint(1, 6)))
        for _ in range(40)
    ]
    excess = []
    for _ in range(400):
        text = rng.choice(documents)
        size = rng.choice([64, 128, 256])
        op, word = rng.choice(["replace", "insert", "delete"]), rng.choice(["zebra", "Zebra", "end."])
        new, _, _, lo, hi = _edit(text, rng.randrange(10**9), op, word)
        before = {text[s.start : s.end] for s in chunk(text, [Section(0, len(text))], size, size // 10, word_tokens)}
        spans = chunk(new, [Section(0, len(new))], size, size // 10, word_tokens)
        created = [s for s in spans if new[s.start : s.end] not in before]
        touching = [s for s in spans if s.start <= hi and s.end >= lo]
        excess.append(len(created) - len(touching))
    assert sum(e <= 1 for e in excess) >= 0.98 * len(excess), sorted(excess)[-20:]
    assert max(excess) <= 3


def test_paragraphs_stay_whole_when_they_fit() -> None:
    paragraphs = [f"Paragraph {n} has a first sentence. And it has a second one too." for n in range(6)]
    text = "\n\n".join(paragraphs)
    for size in (70, 150, 300):
        contents = [text[s.start : s.end] for s in chunk(text, [Section(0, len(text))], size, 0)]
        assert "\n\n".join(contents) == text  # every chunk is whole paragraphs, cut between them
        assert all(len(c) <= size for c in contents)


def test_long_paragraph_cut_between_sentences_with_overlap() -> None:
    sentences = [f"Sentence number {n} is here." for n in range(10)]  # 26-27 characters each
    text = " ".join(sentences)
    spans = chunk(text, [Section(0, len(text))], 90, 30)
    contents = [text[s.start : s.end] for s in spans]
    assert all(c.startswith("Sentence") and c.endswith(".") for c in contents)
    assert any(b.startswith(a.rsplit(". ", 1)[-1]) for a, b in itertools.pairwise(contents))  # a sentence repeated
    check_chunks(text, spans, 90, 30, max_word=10)


def test_a_word_longer_than_the_size_is_the_only_mid_word_cut() -> None:
    text = "Short words here. " + "x" * 50 + " and more words after it."
    run = range(text.index("x"), text.rindex("x") + 1)
    for count, size in ((None, 20), (word_tokens, 6)):
        spans = chunk(text, [Section(0, len(text))], size, 0, count)
        assert "".join(text[s.start : s.end] for s in spans).count("x") == 50  # all of it, nothing dropped
        for s in spans:
            assert s.start == 0 or text[s.start - 1] == " " or s.start in run
            assert s.end == len(text) or text[s.end] == " " or s.end - 1 in run


def test_chunks_never_cross_sections() -> None:
    text = "Alpha one. Alpha two.\n\nBeta one. Beta two."
    sections = [Section(0, 21, ["A"]), Section(23, len(text), ["B"], page=2)]
    spans = chunk(text, sections, 1000, 100)
    assert [(text[s.start : s.end], s.heading_path, s.page) for s in spans] == [
        ("Alpha one. Alpha two.", ["A"], None),
        ("Beta one. Beta two.", ["B"], 2),
    ]


@pytest.mark.parametrize(
    ("size", "overlap", "count"), [(0, 0, None), (10, 10, None), (10, -1, None), (2, 0, word_tokens)]
)
def test_bad_sizes(size: int, overlap: int, count: Any) -> None:
    with pytest.raises(ValueError):
        chunk("text", [Section(0, 4)], size, overlap, count)  # the last: no room beside [CLS] and [SEP]


# --------------------------------------------------------------------------- the local model's tokens
@pytest.fixture(scope="module")
def minilm() -> Any:
    from remlite.embed.local import LocalProvider

    provider = LocalProvider()
    provider.load()
    return provider


def sample_corpus() -> list[tuple[str, list[Section]]]:
    """Real prose and code (this project's README and docs, the ingest fixtures) parsed as ingest
    parses them, and a document made to overflow: a long paragraph, a long code line, a base64 blob."""
    root = Path(__file__).parent.parent
    paths = [root / "README.md", *sorted((root / "docs").glob("*.md")), *sorted((FIXTURES / "docs").rglob("*.*"))]
    out = []
    for path in paths:
        kind = content_type(path)
        if kind is not None and path.suffix != ".bin":
            doc = parse(path, path.read_bytes(), kind)
            out.append((doc.text, doc.sections))
    rng = random.Random(3)
    blob = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(3000))
    long = " ".join(f"Sentence {n} says — in plain words, with a comma — something about item {n}." for n in range(200))
    code = "x = [" + ", ".join(f"compute_value({n}, key='k{n}')" for n in range(300)) + "]"
    text = f"{long}\n\n{code}\n\n{blob}\n\nThe end."
    out.append((text, [Section(0, len(text))]))
    return out


def test_every_chunk_fits_the_local_models_window(minilm: Any) -> None:
    """The share of text embedded is 100%: every chunk, counted by the model's own tokenizer with
    [CLS] and [SEP], is within its 256-token window (the character chunker left 19.5% of chunks
    longer, and 4.6% of all text unembedded)."""
    window = minilm.max_tokens
    counted = embedded = chunks = 0
    for text, sections in sample_corpus():
        spans = chunk(text, sections, window, window // 10, minilm.token_counts)
        contents = [text[s.start : s.end] for s in spans]
        tokens = minilm.token_counts(contents)
        assert max(tokens) <= window
        counted += sum(t - 2 for t in tokens)
        embedded += sum(min(t, window) - 2 for t in tokens)
        chunks += len(spans)
        check_chunks(text, spans, window, window // 10, 10**9, minilm.token_counts, sections)
    assert embedded == counted and chunks > 100


def test_a_word_of_more_tokens_than_the_window_is_cut_inside(minilm: Any) -> None:
    """A URL-like word with no whitespace but many tokens (punctuation splits WordPiece tokens): cut
    inside, at the longest prefix the tokenizer fits. (A run of letters longer than 100 characters,
    a base64 blob, is one [UNK] token to this model: it fits.)"""
    rng = random.Random(4)
    word = "&".join(f"k{n}={rng.randrange(10**6)}" for n in range(400))  # ~2,000 tokens, no whitespace
    text = f"Intro sentence.\n\n{word}\n\nOutro."
    spans = chunk(text, [Section(0, len(text))], 256, 0, minilm.token_counts)
    contents = [text[s.start : s.end] for s in spans]
    assert minilm.token_counts([word])[0] > 4 * 256 and len(spans) > 4
    assert all(n <= 256 for n in minilm.token_counts(contents))
    assert "".join("".join(c.split()) for c in contents) == "".join(text.split())  # nothing dropped, no overlap


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


@pytest.mark.parametrize(
    ("line", "title"),
    [("title: 'It''s done'", "It's done"), ("title: Notes  # draft", "Notes"), ('title: "A: B"', "A: B")],
)
def test_markdown_title_is_the_front_matters_yaml_value(line: str, title: str) -> None:
    """The title is read from the parsed front matter, as its metadata is: a line pattern took a
    YAML comment or a doubled quote into the title."""
    document = parse(Path("n.md"), f"---\n{line}\nk: 1\n---\n\n# Heading\n\nText.\n".encode(), MARKDOWN)
    assert document.title == title and document.metadata == {"k": 1}
    assert markdown_sections(document.text)[1] == title
