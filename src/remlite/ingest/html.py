"""HTML to text with the stdlib `html.parser`: block structure kept, scripts and navigation dropped.

The extracted text is what chunk offsets index: block elements (p, li, div, headings, table rows,
…) become paragraphs separated by a blank line, runs of whitespace collapse to one space (except
inside `<pre>`), and every `<h1>`–`<h6>` starts a section whose heading path is the chain of
enclosing headings. Dropped with their content: `script`, `style`, `noscript`, `template`, `svg`,
`head` (but `<title>` is kept as the document title), `nav`, and any element with
`role="navigation"` or `role="search"` (Sphinx sidebars, site menus). A trailing pilcrow (a
permalink, as Sphinx and MkDocs emit) is removed from every block.

The stdlib parser was chosen over BeautifulSoup/lxml: no dependency, tolerant of unclosed tags,
and fast enough — on the Python docs corpus extraction is a small part of ingest time (see
benchmarks/RESULTS.md).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from remlite.ingest.chunker import Section

_DROP = frozenset({"script", "style", "noscript", "template", "svg", "head", "nav", "iframe", "object", "canvas"})
_DROP_ROLES = frozenset({"navigation", "search"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
)
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog", "div", "dl",
        "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "li", "main", "ol", "p",
        "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "br",
    }
)  # fmt: skip
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_SPACE = re.compile(r"\s+")


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[int, str]] = []  # (heading level or 0, text)
        self.current: list[str] = []
        self.title_parts: list[str] = []
        self.in_title = False
        self.drop: tuple[str, int] | None = None  # (tag, nesting depth) while inside a dropped element
        self.pre = 0
        self.heading = 0

    def flush(self) -> None:
        raw = "".join(self.current)
        self.current = []
        text = raw.strip("\n") if self.pre else _SPACE.sub(" ", raw).strip().rstrip("¶").rstrip()
        if text.strip():
            self.blocks.append((self.heading, text))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and (self.drop is None or self.drop[0] == "head"):  # not an <svg><title>
            self.in_title = not self.title_parts  # the first <title> only
            return
        if self.drop is not None:
            if tag == self.drop[0]:
                self.drop = (tag, self.drop[1] + 1)
            return
        role = next((v for k, v in attrs if k == "role"), None)
        if tag in _DROP or (role in _DROP_ROLES and tag not in _VOID):
            self.drop = (tag, 1)
            return
        if tag in _HEADINGS:
            self.flush()
            self.heading = _HEADINGS[tag]
        elif tag in _BLOCK:
            self.flush()
            if tag == "pre":
                self.pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.drop is None and tag in _BLOCK:
            self.flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self.in_title:
            self.in_title = False
            return
        if self.drop is not None:
            if tag == self.drop[0]:
                depth = self.drop[1] - 1
                self.drop = (tag, depth) if depth else None
            return
        if tag in _HEADINGS:
            self.flush()
            self.heading = 0
        elif tag in _BLOCK:
            self.flush()
            if tag == "pre" and self.pre:
                self.pre -= 1

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title_parts.append(data)
        elif self.drop is None:
            self.current.append(data)


def extract(markup: str) -> tuple[str, list[Section], str | None]:
    """(text, sections, title) of an HTML document."""
    parser = _Extractor()
    parser.feed(markup)
    parser.close()
    parser.flush()
    parts: list[str] = []
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    pos = start = 0
    body = False  # the current section has more than its heading
    first_h1: str | None = None

    def close(end: int) -> None:
        if body:
            sections.append(Section(start, end, [h for _, h in stack]))

    for level, text in parser.blocks:
        if level:
            close(pos - 2)
            start, body = pos, False
            stack = [(lv, h) for lv, h in stack if lv < level] + [(level, text)]
            if level == 1 and first_h1 is None:
                first_h1 = text
        else:
            body = True
        parts.append(text)
        pos += len(text) + 2
    text = "\n\n".join(parts)
    close(len(text))
    title = _SPACE.sub(" ", "".join(parser.title_parts)).strip() or first_h1
    return text, sections, title
