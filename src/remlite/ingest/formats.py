"""File formats: bytes → a `Document` (the text chunk offsets index, its sections and title).

| format | extensions | text offsets index | sections |
|---|---|---|---|
| plain text | .txt .text .rst .log, and any UTF-8 file given by name | the decoded file | one |
| Markdown | .md .markdown .mdown .mkd | the decoded file | one per ATX/setext heading |
| HTML | .html .htm .xhtml | the extracted text (see `remlite.ingest.html`) | one per h1–h6 |
| PDF | .pdf | the pages' extracted text joined by a form feed | one per page (`page`, 1-based) |
| JSON Lines | .jsonl .ndjson | — (records are inserted as they are) | — |

A section that holds nothing but its heading yields no chunk (the heading lives on in the
`heading_path` of the sections below it). A file that cannot be read or decoded raises `BadFile`
with a one-line reason; the orchestrator reports it and moves on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from remlite.ingest.chunker import Section

TEXT, MARKDOWN, HTML, PDF, JSONL = "text/plain", "text/markdown", "text/html", "application/pdf", "application/jsonl"
EXTENSIONS = {
    **dict.fromkeys((".txt", ".text", ".rst", ".log"), TEXT),
    **dict.fromkeys((".md", ".markdown", ".mdown", ".mkd"), MARKDOWN),
    **dict.fromkeys((".html", ".htm", ".xhtml"), HTML),
    ".pdf": PDF,
    **dict.fromkeys((".jsonl", ".ndjson"), JSONL),
}


class BadFile(Exception):
    """A file that cannot be ingested; the message is the reason shown in the report."""


@dataclass
class Document:
    content_type: str
    text: str = ""
    sections: list[Section] = field(default_factory=list)
    title: str | None = None
    records: list[Any] | None = None  # JSON Lines only
    metadata: dict[str, Any] = field(default_factory=dict)  # a Markdown file's front matter (but its title)


def content_type(path: Path) -> str | None:
    """The format of a path by its extension (case-insensitive), None when unknown."""
    name = path.name.lower()
    if name.endswith(".rst.txt"):
        return TEXT
    return EXTENSIONS.get(path.suffix.lower())


def decode(data: bytes) -> str:
    """UTF-8 (a BOM is dropped); NUL bytes or invalid UTF-8 make a file unreadable as text."""
    if b"\x00" in data[:8192]:
        raise BadFile("binary file (NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadFile(f"not UTF-8 text (invalid byte at offset {exc.start})") from None


def parse(path: Path, data: bytes, kind: str | None) -> Document:
    """The document in `data` (the bytes of `path`) read as `kind` (plain text when None)."""
    if kind == PDF:
        return _pdf(data, path)
    if kind == JSONL:
        return _jsonl(data)
    text = decode(data)
    if kind == HTML:
        from remlite.ingest.html import extract

        body, sections, title = extract(text)
        return Document(HTML, body, sections, title or path.stem)
    if kind == MARKDOWN:
        lines = _lines(text)
        front = front_matter(lines)
        sections, title = markdown_sections(text, lines, front)
        return Document(MARKDOWN, text, sections, title or path.stem, metadata=front.metadata)
    return Document(TEXT, text, [Section(0, len(text))], path.stem)


# ---------------------------------------------------------------------------------------- Markdown
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")


def _lines(text: str) -> list[tuple[int, str]]:
    """(offset, line without its end-of-line) for every line."""
    out, pos = [], 0
    for line in text.splitlines(keepends=True):
        out.append((pos, line.rstrip("\r\n")))
        pos += len(line)
    return out


@dataclass(frozen=True)
class FrontMatter:
    """A Markdown file's YAML front matter, parsed once: the line its body starts at, its `title`
    (the document's title) and the rest of it (the file's metadata, values as JSON has them)."""

    body_line: int = 0
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def front_matter(lines: list[tuple[int, str]]) -> FrontMatter:
    """The front matter of a Markdown text's `_lines`. One that is not a YAML mapping makes the file
    unreadable, with why (a silent loss of its metadata would be worse)."""
    if not lines or lines[0][1].strip() != "---":
        return FrontMatter()
    for n, (_offset, line) in enumerate(lines[1:], 1):
        if line.strip() in ("---", "..."):
            import yaml

            try:
                found = yaml.safe_load("\n".join(text for _, text in lines[1:n])) or {}
            except yaml.YAMLError as exc:
                raise BadFile(f"its front matter is not YAML ({exc.__class__.__name__})") from None
            if not isinstance(found, dict):
                raise BadFile("its front matter is not a YAML mapping")
            plain = orjson.loads(orjson.dumps(found, default=str, option=orjson.OPT_NON_STR_KEYS))
            title = plain.get("title")
            metadata = {str(k): v for k, v in plain.items() if k != "title"}
            return FrontMatter(n + 1, None if title is None else str(title), metadata)
    return FrontMatter()


def markdown_sections(
    text: str, lines: list[tuple[int, str]] | None = None, front: FrontMatter | None = None
) -> tuple[list[Section], str | None]:
    """Sections split at the document's own headings (ATX `## x` and setext), read by a CommonMark
    parser (markdown-it-py), so a `#` line inside fenced or indented code, an HTML block or a block
    quote is never taken for a heading; with heading paths. YAML front matter is skipped (its
    `title` is the title); `lines` and `front` when the caller has them already. Why a parser: the
    hand-written line rules took `# x` inside an HTML block for a heading (the parser agreed with
    them on every other Markdown file of this project)."""
    from markdown_it import MarkdownIt

    lines = _lines(text) if lines is None else lines
    front = front_matter(lines) if front is None else front
    title, begin = front.title, front.body_line
    start = lines[begin][0] if begin < len(lines) else len(text)
    tokens = MarkdownIt("commonmark").parse(text[start:])
    headings: list[tuple[int, int, str]] = []  # (offset of the heading's first line, level, text)
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.level == 0 and token.map is not None:
            headings.append((lines[begin + token.map[0]][0], int(token.tag[1:]), tokens[i + 1].content.strip()))
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    for offset, level, heading in headings:
        _add_section(text, sections, start, offset, [h for _, h in stack], heading_first=bool(stack))
        stack = [(lv, h) for lv, h in stack if lv < level] + [(level, heading)]
        start = offset
        if title is None and level == 1:
            title = heading
    _add_section(text, sections, start, len(text), [h for _, h in stack], heading_first=bool(stack))
    if title is None and headings:
        title = headings[0][2]
    return sections, title or None


def _add_section(text: str, out: list[Section], start: int, end: int, path: list[str], heading_first: bool) -> None:
    """Keep a section unless it is empty or only its heading (one line, or two for setext)."""
    body = text[start:end].strip()
    if not body:
        return
    if heading_first:
        rest = body.split("\n", 1)[1].strip() if "\n" in body else ""
        if not rest or _SETEXT.match(rest):
            return
    out.append(Section(start, end, path))


# ---------------------------------------------------------------------------------------- PDF
def _pdf(data: bytes, path: Path) -> Document:
    import io

    try:
        from pypdf import PdfReader
    except ImportError:  # pragma: no cover - pypdf is a dependency
        raise BadFile("PDF support needs pypdf (pip install pypdf)") from None
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise BadFile("encrypted PDF")
        pages = [(page.extract_text() or "") for page in reader.pages]
        meta = reader.metadata
        title = str(meta.title).strip() if meta is not None and meta.title else None
    except BadFile:
        raise
    except Exception as exc:  # pypdf raises many types for broken files
        raise BadFile(f"broken PDF: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    sections: list[Section] = []
    pos = 0
    for number, page in enumerate(pages, 1):
        if page.strip():
            sections.append(Section(pos, pos + len(page), [], number))
        pos += len(page) + 1
    return Document(PDF, "\f".join(pages), sections, title or path.stem)


# ---------------------------------------------------------------------------------------- JSON Lines
def _jsonl(data: bytes) -> Document:
    records: list[Any] = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise BadFile(f"line {number}: not valid JSON: {exc}") from None
        if not isinstance(record, dict):
            raise BadFile(f"line {number}: a record must be a JSON object, got {type(record).__name__}")
        records.append(record)
    return Document(JSONL, records=records)
