"""Split a document's text into chunks that fit the embedding model's window, with boundaries an
edit moves only near itself.

A chunk is a span `[start, end)` of the document text: its content is exactly `text[start:end]`,
so offsets map back to the source.

**Measure.** `size` and `overlap` are in the units of `count`. Given a token counter (an embedding
provider's `token_counts`: each text's length in the model's own tokens, counting what the model
adds to every text, such as [CLS] and [SEP]), no chunk's content holds more than `size` tokens as
the model counts it, so nothing is ever cut off by the model's window. Without one, sizes are the
characters of the span (the ingest job converts tokens to characters at 4 to 1 for providers that
have no tokenizer). Each atom is counted once, in one batched call per document; a run of atoms
counts the sum of its atoms' counts less the per-text tokens repeated, which is exact for WordPiece
(its tokens never span whitespace, and atoms are separated by whitespace). A chunk whose sum comes
within a quarter of `size` is counted again whole (one more batched call), and split further if a
tokenizer counts more, so the cap holds for any counter.

**Rules**, in order:

1. Chunks never cross a section (a Markdown/HTML heading section, a PDF page).
2. Atoms: a section is cut into paragraphs (blank lines), paragraphs into sentences (`.`, `!`, `?`
   or `…`, optional closing quote/bracket, whitespace, then no lower-case letter). A sentence
   larger than `size` is cut into its lines, a line into its words, and only a single word larger
   than `size` is cut inside: the longest prefix that fits, by the measure. Nothing is dropped.
3. Boundaries are content-defined. Every boundary between two atoms has a score: its kind first
   (paragraph > sentence > line > word > inside a word), then a hash of the word before it and the
   word after it. A boundary is a cut when its score beats every other boundary within half the
   budget (`size - overlap`) on both sides and it lies further than that from both ends of the
   section: a local maximum, which depends on the text around it and on nothing else — not on where
   the previous chunk began, as with greedy packing, where one edit moved every later boundary of
   its paragraph. A stretch between two cuts still larger than the budget is cut at its best
   boundary (the highest score; among equal scores the one nearest the middle) that leaves both
   sides within the budget; when none does, at its best boundary leaving a quarter of the budget on
   both sides, and each side again; greedy packing only when no boundary is left to choose.
4. Merging: a cut scoring lower than both neighbouring cuts (a section end scores highest) is
   dropped when the two chunks it separates fit the budget together.
5. Overlap: a chunk that begins inside a paragraph starts with the trailing whole sentences of the
   chunk before it (never that chunk's first atom, never across a paragraph break) that span at most
   `overlap`. Cuts are chosen first, on the budget `size - overlap`, so overlap never moves a cut,
   and a chunk with its overlap never exceeds `size`. A chunk that starts a paragraph has none.

**Stability.** A cut depends only on the text around it, so an edit changes the chunks within
about one budget of it and none further: chunks before and after keep their exact content (ingest
then writes nothing for them, or carries their embedding to their new ordinal). A one-word edit
rewrites the chunks holding it and at most one other in more than 99% of edits on the Python
documentation; the bound cannot hold for every edit (a chunk whose text no longer fits must move a
boundary, and the words scoring a boundary can be the edited ones), so tests check the distance
bound as a property and the share of edits as a measure.

No chunk is empty or starts/ends with whitespace. The split is a pure function of the text, the
two sizes and the counter, so an unchanged document always yields the same chunks (ids and content).
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

_PARAGRAPH_GAP = re.compile(r"\n[ \t\r\f\v]*\n\s*")
# sentence end + closing quotes/brackets, then the gap; the lookahead refuses "e.g. foo"
_SENTENCE_GAP = re.compile(r"[.!?…][\"'”’)\]]*(\s+)(?=[^\sa-z])")
_LINE_GAP = re.compile(r"[ \t\r]*\n\s*")
_WORD_GAP = re.compile(r"\s+")
_FINER = ((_LINE_GAP, 0), (_WORD_GAP, 0))

# the kind of the boundary before an atom, its score's first part
INSIDE, WORD, LINE, SENTENCE, PARAGRAPH = 0, 1, 2, 3, 4
_TOP = 1 << 40  # above every score: the ends of a stretch
_RECOUNT = 0.75  # a chunk whose summed count exceeds this share of `size` is counted again whole

Count = Callable[[list[str]], list[int]]


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


class Measure:
    """Sizes of spans of one text: tokens by `count` (less the tokens it adds to every text), or
    characters."""

    def __init__(self, text: str, count: Count | None) -> None:
        self.text = text
        self.count = count
        self.overhead = count([""])[0] if count is not None else 0

    def sizes(self, spans: Sequence[tuple[int, int]]) -> list[int]:
        if self.count is None:
            return [e - s for s, e in spans]
        if not spans:
            return []
        counts = self.count([self.text[s:e] for s, e in spans])
        return [max(0, c - self.overhead) for c in counts]

    def prefix(self, start: int, end: int, budget: int) -> int:
        """The end of the longest non-empty prefix of `[start, end)` that fits `budget` (a cut inside
        a word): by characters; or by the counter, doubling a candidate length from `budget`
        characters until one does not fit, then a binary search below it — each count is of a text
        about the size of the piece, never of the whole word (a megabyte of minified JSON)."""
        if self.count is None:
            return min(end, start + budget)
        lo, step = start + 1, max(1, budget)  # lo is taken even if it does not fit: a piece is never empty
        hi = min(end, start + step)
        while self.sizes([(start, hi)])[0] <= budget:
            if hi == end:
                return end
            lo, step = hi, step * 2
            hi = min(end, start + step)
        hi -= 1  # the longest that may fit
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.sizes([(start, mid)])[0] <= budget:
                lo = mid
            else:
                hi = mid - 1
        return lo


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


@dataclass
class _Atom:
    start: int
    end: int
    size: int
    kind: int  # of the boundary before it
    section: int


def _fit(
    measure: Measure, spans: list[tuple[int, int]], budget: int, level: int = 0
) -> list[list[tuple[int, int, int]]]:
    """For each span, its pieces (start, end, size), each <= budget: the span whole if it fits, else
    cut at line breaks, then words, then inside a word. Every level is counted in one call."""
    sizes = measure.sizes(spans)
    out: list[list[tuple[int, int, int]]] = [[(s, e, n)] for (s, e), n in zip(spans, sizes, strict=True)]
    over = [i for i, n in enumerate(sizes) if n > budget]
    if not over:
        return out
    if level == len(_FINER):
        for i in over:
            pieces, (s, e) = [], spans[i]
            while s < e:
                cut = measure.prefix(s, e, budget)
                pieces.append((s, cut))
                s = cut
            out[i] = [(s, e, n) for (s, e), n in zip(pieces, measure.sizes(pieces), strict=True)]
        return out
    gap, group = _FINER[level]
    parts = [list(_split(measure.text, *spans[i], gap, group)) for i in over]
    finer = _fit(measure, [p for ps in parts for p in ps], budget, level + 1)
    k = 0
    for i, ps in zip(over, parts, strict=True):
        out[i] = [piece for p in finer[k : k + len(ps)] for piece in p]
        k += len(ps)
    return out


def atoms(text: str, sections: list[Section], budget: int, measure: Measure) -> list[_Atom]:
    """Every atom of the document, in order, each <= budget (rule 2)."""
    sentences: list[tuple[int, int]] = []
    heads: list[tuple[int, int]] = []  # (section, kind of the boundary before the sentence)
    for number, section in enumerate(sections):
        for p_start, p_end in _split(text, section.start, section.end, _PARAGRAPH_GAP):
            kind = PARAGRAPH
            for span in _split(text, p_start, p_end, _SENTENCE_GAP, 1):
                sentences.append(span)
                heads.append((number, kind))
                kind = SENTENCE
    out: list[_Atom] = []
    for (number, kind), pieces in zip(heads, _fit(measure, sentences, budget), strict=True):
        for n, (s, e, size) in enumerate(pieces):
            if n:
                before = text[pieces[n - 1][1] : s]
                kind = LINE if "\n" in before else WORD if before else INSIDE
            out.append(_Atom(s, e, size, kind, number))
    return out


def _score(text: str, before: _Atom, after: _Atom) -> int:
    """Kind, then a hash of the last word before the boundary and the first word after it: an edit
    changes a boundary's score only when it edits one of those two words."""
    left = text[max(before.start, before.end - 40) : before.end].rsplit(None, 1)[-1]
    right = text[after.start : min(after.end, after.start + 40)].split(None, 1)[0]
    return (after.kind << 32) | zlib.crc32(f"{left}\x1f{right}".encode("utf-8", "surrogatepass"))


def _local_maxima(pos: list[int], score: list[int], lo: int, hi: int, end: int, radius: int) -> list[int]:
    """Boundaries b in (lo, hi) (the boundary before atom b, at pos[b]) whose score beats every
    other boundary of the stretch within `radius`, and that lie further than `radius` from both
    ends (pos[lo] and `end`). Two monotonic-queue passes: O(hi - lo)."""
    left = [0] * (hi - lo)  # the best score within radius before each boundary
    window: deque[int] = deque()
    for b in range(lo + 1, hi):
        while window and pos[b] - pos[window[0]] > radius:
            window.popleft()
        left[b - lo] = score[window[0]] if window else -1
        while window and score[window[-1]] <= score[b]:
            window.pop()
        window.append(b)
    chosen: list[int] = []
    window.clear()
    for b in range(hi - 1, lo, -1):
        while window and pos[window[0]] - pos[b] > radius:
            window.popleft()
        right = score[window[0]] if window else -1
        if score[b] > left[b - lo] and score[b] > right and pos[b] - pos[lo] > radius and end - pos[b] > radius:
            chosen.append(b)
        while window and score[window[-1]] <= score[b]:
            window.pop()
        window.append(b)
    chosen.reverse()
    return chosen


def _cuts(pos: list[int], ends: list[int], score: list[int], lo: int, hi: int, budget: int, radius: int) -> list[int]:
    """The atoms that start a chunk in the stretch [lo, hi) after `lo` (rule 3)."""
    if ends[hi - 1] - pos[lo] <= budget:
        return []
    chosen = _local_maxima(pos, score, lo, hi, ends[hi - 1], radius) if radius else []
    bounds = [lo, *chosen, hi]
    out = []
    for a, b in itertools.pairwise(bounds):
        out += _halve(pos, ends, score, a, b, budget)
        if b != hi:
            out.append(b)
    return out


def _halve(pos: list[int], ends: list[int], score: list[int], lo: int, hi: int, budget: int) -> list[int]:
    """Cuts of a stretch larger than the budget: at its best boundary (the highest score) among those
    leaving both sides within the budget; if none does, at its best boundary leaving a quarter of the
    budget on both sides, then each side again; greedy packing when even that finds none."""
    end = ends[hi - 1]
    if end - pos[lo] <= budget:
        return []
    middle = pos[lo] + end  # twice the middle: equal scores go to the boundary nearest it
    best, key = -1, (-1, 0)
    for b in range(lo + 1, hi):
        if ends[b - 1] - pos[lo] <= budget and end - pos[b] <= budget and (score[b], -abs(2 * pos[b] - middle)) > key:
            best, key = b, (score[b], -abs(2 * pos[b] - middle))
    if best > 0:
        return [best]
    margin = budget // 4
    for b in range(lo + 1, hi):
        if ends[b - 1] - pos[lo] >= margin and end - pos[b] >= margin and (score[b], -abs(2 * pos[b] - middle)) > key:
            best, key = b, (score[b], -abs(2 * pos[b] - middle))
    if best > 0:
        return [*_halve(pos, ends, score, lo, best, budget), best, *_halve(pos, ends, score, best, hi, budget)]
    out, first = [], lo  # atoms are <= budget: greedy packing ends it
    for b in range(lo + 1, hi):
        if ends[b] - pos[first] > budget:
            out.append(b)
            first = b
    return out


def _merge(
    pos: list[int], ends: list[int], score: list[int], lo: int, hi: int, cuts: list[int], budget: int
) -> list[int]:
    """Rule 4: drop a cut scoring lower than both neighbours when its two chunks fit together (two
    such cuts are never adjacent, so a chunk is at most two pieces)."""
    kept = []
    for n, cut in enumerate(cuts):
        first = cuts[n - 1] if n else lo
        after = cuts[n + 1] if n + 1 < len(cuts) else hi
        lower = score[cut] < (score[first] if n else _TOP) and score[cut] < (score[after] if after != hi else _TOP)
        if not (lower and ends[after - 1] - pos[first] <= budget):
            kept.append(cut)
    return kept


def pack(text: str, units: list[_Atom], size: int, overlap: int, chars: bool) -> list[tuple[int, int, int]]:
    """The chunks of one section's atoms as (first atom, first core atom, last atom): rules 3-5.
    `size` is what a chunk's content may hold; `chars`: sizes are characters, gaps included."""
    n = len(units)
    if not n:
        return []
    budget = size - overlap
    if chars:  # positions in the measure: offsets (the gaps count), or running sums of token counts
        pos = [u.start - units[0].start for u in units]
        ends = [u.end - units[0].start for u in units]
    else:
        pos, ends = [0] * n, [0] * n
        for i, unit in enumerate(units):
            pos[i] = ends[i - 1] if i else 0
            ends[i] = pos[i] + unit.size
    score = [_TOP] + [_score(text, units[i - 1], units[i]) for i in range(1, n)]
    cuts = _merge(pos, ends, score, 0, n, _cuts(pos, ends, score, 0, n, budget, budget // 2), budget)
    bounds = [0, *cuts, n]
    out: list[tuple[int, int, int]] = []
    for k in range(len(bounds) - 1):
        first, last = bounds[k], bounds[k + 1] - 1
        start = first
        if k and overlap and units[first].kind != PARAGRAPH:
            previous = bounds[k - 1]
            c = first
            while c - 1 > previous and units[c].kind != PARAGRAPH:
                c -= 1
                if ends[first - 1] - pos[c] > overlap or ends[last] - pos[c] > size:
                    break
                if units[c].kind >= SENTENCE:  # overlap starts at a sentence, never inside one
                    start = c
        out.append((start, first, last))
    return out


def _recount(
    units: list[_Atom], chunks: list[tuple[int, int, int]], size: int, measure: Measure
) -> list[tuple[int, int, int]]:
    """Hold the cap for any counter: chunks whose summed size nears `size` are counted whole; one
    counted larger loses its overlap, then is cut greedily by whole counts (never for WordPiece)."""
    if measure.count is None:
        return chunks
    near = [i for i, (a, _, z) in enumerate(chunks) if sum(u.size for u in units[a : z + 1]) > _RECOUNT * size]
    if not near:
        return chunks
    counts = measure.sizes([(units[chunks[i][0]].start, units[chunks[i][2]].end) for i in near])
    out = list(chunks)
    for i, counted in zip(reversed(near), reversed(counts), strict=True):
        if counted <= size:
            continue
        _, first, last = chunks[i]
        pieces, a = [], first
        while a <= last:
            z = a
            while z < last and measure.sizes([(units[a].start, units[z + 1].end)])[0] <= size:
                z += 1
            pieces.append((a, a, z))
            a = z + 1
        out[i : i + 1] = pieces
    return out


def chunk(text: str, sections: list[Section], size: int, overlap: int, count: Count | None = None) -> list[Span]:
    """Every chunk of a document, in order. `size` and `overlap` are tokens of `count` (a provider's
    `token_counts`), or characters without one."""
    measure = Measure(text, count)
    if size < 1:
        raise ValueError("chunk size must be >= 1")
    if overlap < 0 or overlap >= size:
        raise ValueError("overlap must be >= 0 and smaller than the chunk size")
    room = size - measure.overhead  # what a chunk's content may hold
    if room - overlap < 1:
        raise ValueError(
            f"chunk size {size} leaves no room for text after the overlap ({overlap}) and the model's "
            f"own tokens ({measure.overhead})"
        )
    units = atoms(text, sections, room, measure)
    out: list[Span] = []
    i = 0
    for number, section in enumerate(sections):
        j = i
        while j < len(units) and units[j].section == number:
            j += 1
        mine = units[i:j]
        chunks = _recount(mine, pack(text, mine, room, overlap, count is None), room, measure)
        out += [Span(mine[a].start, mine[z].end, section.heading_path, section.page) for a, _, z in chunks]
        i = j
    return out
