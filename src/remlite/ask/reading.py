"""What a question says, as the rules planner reads it against a tenant's vocabulary.

`read(question, vocabulary)` finds: the time expression (`remlite.ask.times`), codes
and identifiers written as the tables' keys are ("tap 1234" -> "TAP-1234" when tickets' keys look
like "TAP-…"), proper names, the tables named (names, singular/plural, declared synonyms, a few
abbreviations), values seen in the data (plurals and negations too: "designers", "unpaid"),
relation words for the graph's edge types, numbers with "over"/"under", counts, orders and
superlatives ("the biggest"), and a topic ("about X"). `remlite.ask.rules` chooses the plan from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from remlite.ask import words as lex
from remlite.ask.plan import TimeRange
from remlite.ask.times import MONTHS, find_time
from remlite.ask.vocabulary import Vocabulary


@dataclass(frozen=True)
class Value:
    """A value of `table.field` seen in the question (`negated`: "unpaid", "not closed")."""

    position: int
    table: str
    field: str
    value: str
    negated: bool = False


@dataclass
class Reading:
    """What the rules found in one question (`low`: lower case; `rest`: without the time phrase)."""

    text: str
    low: str
    rest: str
    time: TimeRange | None = None
    time_words: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    code_spans: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    values: list[Value] = field(default_factory=list)
    relations: list[str] = field(default_factory=list)
    numbers: list[tuple[str, float]] = field(default_factory=list)
    topic: str | None = None
    topic_marker: bool = False
    count: bool = False
    order: str | None = None
    superlative: tuple[str, int] | None = None  # ("desc" | "asc", how many)
    lead: str = ""  # "find", "tell me about", ... when the question opens with one

    def value_words(self) -> set[str]:
        return {w for v in self.values for w in lex.WORD.findall(v.value.lower().replace("_", " "))}


def read(question: str, vocabulary: Vocabulary) -> Reading:
    text = " ".join(question.strip().split())
    low = text.lower().rstrip("?!. ")
    reading = Reading(text=text, low=low, rest=low)
    found = find_time(low)
    if found is not None:
        reading.time, (start, end) = found
        reading.rest = (low[:start] + " " + low[end:]).strip()
    lead = lex.LOOKUP_LEAD.match(low)
    reading.lead = lead.group(0).strip() if lead else ""
    reading.codes, reading.code_spans = _codes(text, vocabulary)
    reading.names = _names(text, vocabulary)
    built = index(vocabulary)
    reading.tables = _tables(reading.rest, built)
    reading.values = _values(reading.rest, built)
    reading.relations = _relations(reading.rest, vocabulary)
    reading.time_words = [s for s, forms in lex.TIME_WORDS.items() if any(has(reading.rest, f) for f in forms)]
    reading.numbers = [
        (m.group(1), float(m.group(2).replace(",", ""))) for m in lex.NUMBER_FILTER.finditer(reading.rest)
    ]
    reading.count = bool(lex.COUNT.search(low))
    reading.order = "desc" if lex.NEWEST.search(low) else "asc" if lex.OLDEST.search(low) else None
    most = lex.SUPERLATIVE.search(low)
    if most is not None:
        how_many = int(most.group("n")) if most.group("n") else 1
        reading.superlative = ("asc" if most.group("word") in lex.SMALLEST else "desc", how_many)
    topic = lex.TOPIC.search(reading.rest)
    if topic is not None:  # what follows "about" is a topic, even the values in it ("about rate limiting")
        reading.topic_marker = True
        covered = {w for c in reading.codes for w in lex.WORD.findall(c.lower())}
        if reading.rest[topic.start() : topic.start(1)].strip() == "on":  # "on the platform team": not a topic
            covered |= reading.value_words()
        else:
            reading.values = [v for v in reading.values if v.position < topic.start(1)]
        kept = [w for w in content(topic.group(1), built).split() if w not in covered]
        reading.topic = " ".join(kept) or None
    return reading


def has(text: str, phrase: str) -> bool:
    return re.search(rf"\b{re.escape(phrase)}\b", text) is not None


def content(text: str, built: dict[str, Any]) -> str:
    """The words of a phrase that carry its meaning (stopwords and table words dropped)."""
    return " ".join(w for w in _words(text) if w not in built["stopwords"])


def _words(text: str) -> list[str]:
    return [re.sub(r"['’]s$", "", w) for w in lex.WORD.findall(text.lower())]


def words_of(text: str) -> list[str]:
    """A phrase's words, possessives dropped ("garcia's" -> "garcia")."""
    return _words(text)


def code_table(code: str, vocabulary: Vocabulary) -> str | None:
    """The table whose natural keys look like `code` ("INV-2291": invoices)."""
    prefix = re.match(r"[A-Za-z]+", code)
    if prefix is None:
        return None
    wanted = prefix.group(0).upper()
    for table in vocabulary.tables.values():
        if any(re.match(r"[A-Za-z]+", s) and re.match(r"[A-Za-z]+", s).group(0).upper() == wanted  # type: ignore[union-attr]
               for s in table.key_samples):  # fmt: skip
            return table.name
    return None


def _codes(text: str, vocabulary: Vocabulary) -> tuple[list[str], list[str]]:
    out = [m.group(0) for m in lex.UUID.finditer(text)]
    spans = list(out)
    months = set(MONTHS)
    for match in lex.CODE.finditer(text):
        letters, digits = match.group(1), match.group(2)
        lowered = letters.lower()
        if lowered in months or lowered in lex.STOP or lowered in lex.NOT_CODES:
            continue
        raw = match.group(0)
        known = code_table(letters, vocabulary) is not None
        if not known and not any(c.isupper() for c in letters) and not re.search(r"[-_]", raw):
            continue  # "mp3", "win10", "sha 256": a word with digits, not a code, unless keys look like it
        out.append(_code_like(letters, digits, raw, vocabulary))
        spans.append(raw.lower())
    return out, spans


def _code_like(letters: str, digits: str, raw: str, vocabulary: Vocabulary) -> str:
    """The code as the tables' keys write it ("tap 1234" -> "TAP-1234" when keys look like "TAP-…")."""
    for table in vocabulary.tables.values():
        for sample in table.key_samples:
            match = re.fullmatch(r"([A-Za-z]+)([-_ ]?)(\d+)", sample)
            if match and match.group(1).upper() == letters.upper():
                head = letters.upper() if match.group(1).isupper() else letters
                return head + match.group(2) + digits
    return letters.upper() + "-" + digits if not re.search(r"[-_]", raw) else raw.upper()


def _names(text: str, vocabulary: Vocabulary) -> list[str]:
    """Proper names: quoted text, or runs of capitalised words that are not the question's first
    word (when it is a question word), a table, a month or a code."""
    names = [m.group(1).strip() for m in lex.QUOTED.finditer(text)]
    skip = set(MONTHS) | {w for t in vocabulary.tables.values() for w in t.words} | lex.NOT_NAMES
    for match in lex.NAME.finditer(text):
        words = match.group(1).split()
        if match.start() == 0 and words[0].lower() in lex.FIRST_WORDS | lex.STOP:
            words = words[1:]
        while words and (words[0].lower() in skip or words[0].lower() in lex.STOP):
            words = words[1:]
        while words and (words[-1].lower() in skip or words[-1].lower() in lex.STOP):
            words = words[:-1]
        name = re.sub(r"['’]s$", "", " ".join(words).strip(".,;:?!'’"))
        if name and not lex.CODE.fullmatch(name):
            names.append(name)
    return names


def index(vocabulary: Vocabulary) -> dict[str, Any]:
    """Patterns for a vocabulary's table words and values, built once per vocabulary."""
    cached = vocabulary.derived.get("rules")
    if cached is not None:
        return cached
    table_words: list[tuple[str, str]] = []
    for table in vocabulary.tables.values():
        table_words += [(word, table.name) for word in table.words]
        for word in table.words:
            table_words += [(extra, table.name) for extra in lex.TABLE_ABBREVIATIONS.get(word, ())]
    values: list[tuple[str, str, str, str]] = []
    for table in vocabulary.tables.values():
        for info in table.fields.values():
            if info.name == table.key_field or info.name in lex.NAME_FIELDS:
                continue  # a record's own name or key: looked up, not a condition
            for value in info.values:
                spoken = value.lower().replace("_", " ").replace("-", " ").strip()
                if spoken and len(spoken) > 1 and spoken not in lex.STOP:
                    values.append((spoken, table.name, info.name, value))
    built = {
        "tables": sorted(set(table_words), key=lambda item: (-len(item[0]), item)),
        "values": sorted(values, key=lambda item: (-len(item[0]), item)),
        "stopwords": lex.STOP | lex.FILLER | lex.LINKING | {w for w, _ in table_words},
    }
    vocabulary.derived["rules"] = built
    return built


def _tables(rest: str, built: dict[str, Any]) -> list[str]:
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for word, table in built["tables"]:
        for match in re.finditer(rf"\b{re.escape(word)}\b", rest):
            span = match.span()
            if any(s < span[1] and span[0] < e for s, e in taken):
                continue
            taken.append(span)
            found.append((span[0], table))
    ordered: list[str] = []
    for _, table in sorted(found):
        if table not in ordered:
            ordered.append(table)
    return ordered


def _values(rest: str, built: dict[str, Any]) -> list[Value]:
    spoken_rest = rest.replace("-", " ").replace("_", " ")
    out: list[Value] = []
    taken: list[tuple[int, int]] = []
    for spoken, table, field_name, value in built["values"]:
        pattern = rf"\b(?P<neg>un|non ?|not )?{re.escape(spoken)}(?:s|es)?\b"
        for match in re.finditer(pattern, spoken_rest):
            span = match.span()
            if any(s <= span[0] and span[1] <= e and (s, e) != span for s, e in taken):
                continue  # inside a longer value already matched ("in transit" vs "transit")
            taken.append(span)
            out.append(Value(span[0], table, field_name, value, negated=match.group("neg") is not None))
    return out


def _relations(rest: str, vocabulary: Vocabulary) -> list[str]:
    found: list[tuple[int, str]] = []
    for edge in vocabulary.edges:
        forms = {edge.replace("_", " ").lower(), edge.lower()}
        stem = edge.lower().split("_")[0]
        for key, words in lex.RELATION_WORDS.items():
            if stem.startswith(key):
                forms.update(words)
        positions = [m.start() for form in forms for m in re.finditer(rf"\b{re.escape(form)}\b", rest)]
        if positions:
            found.append((min(positions), edge))
    return [edge for _, edge in sorted(found)]


def relation_words(relations: list[str]) -> set[str]:
    """The words that said the relations ("reviewed", "carried", "by")."""
    out = {w for name in relations for w in name.lower().split("_")}
    for name in relations:
        for key, forms in lex.RELATION_WORDS.items():
            if name.lower().startswith(key):
                out.update(w for form in forms for w in form.split())
    return out
