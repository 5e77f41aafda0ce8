"""Split a document's text into chunks that respect paragraph and sentence boundaries.

A chunk is a span `[start, end)` of the document text: its content is exactly `text[start:end]`,
so offsets map back to the source. The rules, in order:

1. Chunks never cross a section (a Markdown/HTML heading section, a PDF page).
2. Within a section the text is cut into paragraphs (blank lines), paragraphs into sentences
   (`.`, `!`, `?` or `…`, optional closing quote/bracket, whitespace, then no lower-case letter).
   A sentence longer than `size` is cut at line breaks, then at whitespace; only a single "word"
   longer than `size` (a URL, a base64 blob) is cut mid-word. These pieces are the atoms.
3. Atoms are packed greedily while the span from the first atom's start to the last atom's end
   stays <= `size` characters. When the next atom does not fit and it is in the middle of a
   paragraph that would fit a chunk on its own, the chunk ends before that paragraph instead:
   a paragraph is only ever split when it is longer than `size`.
4. Overlap: when a cut falls inside a paragraph, the next chunk starts with the trailing whole
   atoms (sentences) of the previous chunk whose span is <= `overlap` characters and that still
   leave room for the next new atom. Overlap is never a partial sentence, so it may be shorter
   than `overlap`, or empty when the last sentence alone is longer. A chunk that starts a
   paragraph has no overlap: the paragraph break is the context boundary.

No chunk is empty or starts/ends with whitespace. The split is a pure function of the text and the
two sizes, so an unchanged document always yields the same chunks (ids and content).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

_PARAGRAPH_GAP = re.compile(r"\n[ \t\r\f\v]*\n\s*")
# sentence end + closing quotes/brackets, then the gap; the lookahead refuses "e.g. foo"
_SENTENCE_GAP = re.compile(r"[.!?…][\"'”’)\]]*(\s+)(?=[^\sa-z])")
_LINE_GAP = re.compile(r"[ \t\r]*\n\s*")
_WORD_GAP = re.compile(r"\s+")


@dataclass(frozen=True)
class Section:
    """A region of the document text that chunks never cross."""

    start: int
    end: int
    heading_path: list[str] = field(default_factory=list)
    page: int | None = None


@dataclass(frozen=True)
class Span:
    """One chunk: `text[start:end]`, with the heading path / page of its section."""

    start: int
    end: int
    heading_path: list[str]
    page: int | None


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split(text: str, start: int, end: int, gap: re.Pattern[str], group: int = 0) -> Iterator[tuple[int, int]]:
    """Non-empty, whitespace-stripped pieces of `[start, end)` between the gaps of `gap`."""
    pos = start
    for match in gap.finditer(text, start, end):
        cut, resume = match.start(group), match.end(group)
        s, e = _strip(text, pos, cut)
        if e > s:
            yield s, e
        pos = resume
    s, e = _strip(text, pos, end)
    if e > s:
        yield s, e


_FINER = ((_LINE_GAP, 0), (_WORD_GAP, 0))


def _fit(text: str, start: int, end: int, size: int, level: int = 0) -> Iterator[tuple[int, int]]:
    """Pieces of one sentence, each <= size: whole if it fits, else at line breaks, then words,
    then (a single overlong word) hard cuts."""
    if end - start <= size:
        yield start, end
        return
    if level == len(_FINER):
        for s in range(start, end, size):
            yield _strip(text, s, min(s + size, end))
        return
    gap, group = _FINER[level]
    pieces = list(_split(text, start, end, gap, group))
    # regroup consecutive pieces that fit together, so a long sentence is not cut at every word
    i = 0
    while i < len(pieces):
        s, e = pieces[i]
        if e - s > size:
            yield from _fit(text, s, e, size, level + 1)
            i += 1
            continue
        j = i
        while j + 1 < len(pieces) and pieces[j + 1][1] - s <= size:
            j += 1
        yield s, pieces[j][1]
        i = j + 1


def atoms(text: str, start: int, end: int, size: int) -> list[tuple[int, int, bool, bool]]:
    """(start, end, starts_paragraph, starts_sentence) for every atom of the section `[start, end)`."""
    out: list[tuple[int, int, bool, bool]] = []
    for p_start, p_end in _split(text, start, end, _PARAGRAPH_GAP):
        first = True
        for s_start, s_end in _split(text, p_start, p_end, _SENTENCE_GAP, 1):
            for a_start, a_end in _fit(text, s_start, s_end, size):
                if a_end > a_start:
                    out.append((a_start, a_end, first, a_start == s_start))
                    first = False
    return out


def _cut(units: list[tuple[int, int, bool, bool]], ends: list[int], lo: int, j: int, size: int) -> int:
    """Index of the last atom of a chunk whose atoms up to j fit and j+1 does not (or does not
    exist): j, unless atom j+1 is inside a paragraph that would fit a chunk on its own, then the
    atom before that paragraph — never before `lo` (the first atom that is not overlap)."""
    if j + 1 >= len(units) or units[j + 1][2]:
        return j
    p = j + 1
    while not units[p][2]:
        p -= 1
    if p > lo and ends[p] - units[p][0] <= size:
        return p - 1
    return j


def pack(text: str, section: Section, size: int, overlap: int) -> list[Span]:
    """The chunks of one section."""
    units = atoms(text, section.start, section.end, size)
    ends = [0] * len(units)  # the end of each atom's paragraph
    for n in range(len(units) - 1, -1, -1):
        ends[n] = units[n][1] if n + 1 == len(units) or units[n + 1][2] else ends[n + 1]
    spans: list[Span] = []
    i = lo = 0
    n = len(units)
    while i < n:
        j = lo
        while j + 1 < n and units[j + 1][1] - units[i][0] <= size:
            j += 1
        c = _cut(units, ends, lo, j, size)
        spans.append(Span(units[i][0], units[c][1], section.heading_path, section.page))
        if c + 1 >= n:
            break
        nxt = c + 1
        k = candidate = nxt
        while (
            not units[candidate][2]  # overlap stays inside the paragraph the cut fell in
            and candidate - 1 > i
            and units[c][1] - units[candidate - 1][0] <= overlap
            and units[nxt][1] - units[candidate - 1][0] <= size
        ):
            candidate -= 1
            if units[candidate][3]:  # overlap starts at a sentence, never inside one
                k = candidate
        i, lo = k, nxt
    return spans


def chunk(text: str, sections: list[Section], size: int, overlap: int) -> list[Span]:
    """Every chunk of a document, in order."""
    if size < 1:
        raise ValueError("chunk size must be >= 1")
    if overlap < 0 or overlap >= size:
        raise ValueError("overlap must be >= 0 and smaller than the chunk size")
    out: list[Span] = []
    for section in sections:
        out += pack(text, section, size, overlap)
    return out
