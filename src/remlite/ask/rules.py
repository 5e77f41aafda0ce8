"""The `rules` planner: a question becomes a plan offline, deterministically, in well under 5 ms.

It reads the question against the tenant's vocabulary (`remlite.ask.vocabulary`) and recognises:
- codes and identifiers ("INV-2291", "tap 1234", a record id) and proper names ("Alice Johnson");
- the tables a question names (names, singular/plural, declared synonyms, "docs" for documents)
  and which one it asks for (the first named; "who" means the people-like table);
- values seen in the data ("delayed", "critical", "DHL", "platform") as field conditions, numbers
  with "over"/"under", "how many" as a count, "latest" as an order;
- time expressions (`remlite.ask.times`), on the field the question names ("updated this week":
  `updated_at`) or the table's default time field;
- topics ("about X", "related to X", "on X") as semantic search;
- relation words ("wrote", "reviewed", "worked on", "attended", "carried by") and pairs of tables
  joined by an edge type, as a traversal in the direction the graph's edges run.

The shapes it builds, most specific first: a lookup (with a fuzzy lookup, then a search, as
fallbacks); a moments window; a filter; an anchor (lookup, filter or search) followed by a
traversal (and a filter on what it reached); a topical search; and otherwise a hybrid search over
every searchable table with a low confidence. Every plan but the last keeps a hybrid search as its
fallback, so a misread question still returns something related.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from remlite.ask import words as lex
from remlite.ask.plan import (
    Condition,
    FilterStage,
    LookupStage,
    MomentsStage,
    Plan,
    SearchStage,
    Stage,
    TimeRange,
    TraverseStage,
)
from remlite.ask.times import MONTHS, find_time
from remlite.ask.vocabulary import EdgeInfo, TableInfo, Vocabulary


@dataclass
class _Reading:
    """What the rules found in one question."""

    text: str
    low: str
    rest: str
    time: TimeRange | None = None
    time_words: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    values: list[tuple[int, str, str, str]] = field(default_factory=list)  # (position, table, field, value)
    relations: list[str] = field(default_factory=list)
    numbers: list[tuple[str, float]] = field(default_factory=list)
    topic: str | None = None
    count: bool = False
    order: str | None = None


def plan_with_rules(question: str, vocabulary: Vocabulary, *, max_stages: int = 3, now: datetime | None = None) -> Plan:
    """The plan for `question` (see the module docstring for what is recognised)."""
    reading = _read(question, vocabulary)
    plan = _choose(reading, vocabulary)
    fallback = _broad_search(reading, vocabulary)
    if len(plan.stages) > max_stages:
        return fallback
    if (plan.fallback is None and plan.stages[0].kind != "search") or plan.kinds == ["lookup"]:
        plan = _with_last_fallback(plan, fallback)
    return plan


def _with_last_fallback(plan: Plan, fallback: Plan) -> Plan:
    if plan.fallback is None:
        return plan.model_copy(update={"fallback": fallback})
    return plan.model_copy(update={"fallback": _with_last_fallback(plan.fallback, fallback)})


# ----------------------------------------------------------------------------------------- reading
def _read(question: str, vocabulary: Vocabulary) -> _Reading:
    text = " ".join(question.strip().split())
    low = text.lower().rstrip("?!. ")
    reading = _Reading(text=text, low=low, rest=low)
    found = find_time(low)
    if found is not None:
        reading.time, (start, end) = found
        reading.rest = (low[:start] + " " + low[end:]).strip()
    reading.codes = _codes(text, vocabulary)
    reading.names = _names(text, vocabulary)
    words = _index(vocabulary)
    reading.tables = _tables(reading.rest, words)
    reading.values = _values(reading.rest, words)
    reading.relations = _relations(reading.rest, vocabulary)
    reading.time_words = [stem for stem, forms in lex.TIME_WORDS.items() if any(_has(reading.rest, f) for f in forms)]
    reading.numbers = [
        (m.group(1), float(m.group(2).replace(",", ""))) for m in lex.NUMBER_FILTER.finditer(reading.rest)
    ]
    reading.count = bool(lex.COUNT.search(low))
    reading.order = "desc" if lex.NEWEST.search(low) else "asc" if lex.OLDEST.search(low) else None
    topic = lex.TOPIC.search(reading.rest)
    if topic is not None:
        covered = {w for _, _, _, v in reading.values for w in lex.WORD.findall(v.lower().replace("_", " "))}
        covered |= {w for code in reading.codes for w in lex.WORD.findall(code.lower())}
        kept = [w for w in _content(topic.group(1), words).split() if w not in covered]
        reading.topic = " ".join(kept) or None
    return reading


def _has(text: str, phrase: str) -> bool:
    return re.search(rf"\b{re.escape(phrase)}\b", text) is not None


def _codes(text: str, vocabulary: Vocabulary) -> list[str]:
    out = [m.group(0) for m in lex.UUID.finditer(text)]
    months = set(MONTHS)
    for match in lex.CODE.finditer(text):
        letters, digits = match.group(1), match.group(2)
        if (
            letters.lower() in months
            or letters.lower() in lex.STOP
            or (len(digits) == 4 and letters.lower() in ("in", "since"))
        ):
            continue
        raw = match.group(0)
        if (
            not any(c.isupper() for c in letters)
            and not re.search(r"[-_ ]", raw)
            and not _known_prefix(letters, vocabulary)
        ):
            continue  # "mp3", "win10": a word with digits, not a code, unless a table's keys look like it
        out.append(_code_like(letters, digits, raw, vocabulary))
    return out


def _known_prefix(letters: str, vocabulary: Vocabulary) -> bool:
    wanted = letters.upper()
    return any(sample.upper().startswith(wanted) for t in vocabulary.tables.values() for sample in t.key_samples)


def _code_like(letters: str, digits: str, raw: str, vocabulary: Vocabulary) -> str:
    """The code as the tables' keys write it ("tap 1234" -> "TAP-1234" when keys look like "TAP-…")."""
    for table in vocabulary.tables.values():
        for sample in table.key_samples:
            match = re.fullmatch(r"([A-Za-z]+)([-_ ]?)(\d+)", sample)
            if match and match.group(1).upper() == letters.upper():
                return (
                    letters.upper() + match.group(2) + digits
                    if match.group(1).isupper()
                    else letters + match.group(2) + digits
                )
    return letters.upper() + "-" + digits if not re.search(r"[-_]", raw) else raw.upper()


def _names(text: str, vocabulary: Vocabulary) -> list[str]:
    """Proper names: quoted text, or runs of capitalised words that are not the question's first
    word (when it is a question word), a table, a month or a code."""
    names = [m.group(1).strip() for m in lex.QUOTED.finditer(text)]
    skip = (
        set(MONTHS)
        | {w for t in vocabulary.tables.values() for w in t.words}
        | {"i", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "python"}
    )
    for match in lex.NAME.finditer(text):
        words = match.group(1).split()
        if match.start() == 0 and words[0].lower() in lex.FIRST_WORDS | lex.STOP:
            words = words[1:]
        while words and (words[0].lower() in skip or words[0].lower() in lex.STOP):
            words = words[1:]
        while words and (words[-1].lower() in skip or words[-1].lower() in lex.STOP):
            words = words[:-1]
        if words and not lex.CODE.fullmatch(" ".join(words)):
            names.append(" ".join(words).strip(".,;:?!'’"))
    return [n for n in names if n]


def _index(vocabulary: Vocabulary) -> dict[str, Any]:
    """Patterns for a vocabulary's table words and values, built once per vocabulary."""
    cached = vocabulary.derived.get("rules")
    if cached is not None:
        return cached
    table_words: list[tuple[str, str]] = []
    for table in vocabulary.tables.values():
        for word in table.words:
            table_words.append((word, table.name))
        singular = table.name.lower().rstrip("s")
        if len(singular) > 4:  # "docs"/"doc" for documents
            table_words += [(singular[:3] + "s", table.name), (singular[:3], table.name)]
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
        "tables": sorted(table_words, key=lambda item: -len(item[0])),
        "values": sorted(values, key=lambda item: -len(item[0])),
        "stopwords": lex.STOP | {w for w, _ in table_words},
    }
    vocabulary.derived["rules"] = built
    return built


def _tables(rest: str, words: dict[str, Any]) -> list[str]:
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for word, table in words["tables"]:
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


def _values(rest: str, words: dict[str, Any]) -> list[tuple[int, str, str, str]]:
    spoken_rest = rest.replace("-", " ").replace("_", " ")
    out = []
    taken: list[tuple[int, int]] = []
    for spoken, table, field_name, value in words["values"]:
        for match in re.finditer(rf"\b{re.escape(spoken)}\b", spoken_rest):
            span = match.span()
            if any(s < span[1] and span[0] < e and (s, e) != span for s, e in taken):
                continue  # inside a longer value already matched ("in transit" vs "transit")
            taken.append(span)
            out.append((span[0], table, field_name, value))
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


def _content(text: str, words: dict[str, Any]) -> str:
    """The words of a phrase that carry its topic (stopwords and table words dropped)."""
    kept = [w for w in lex.WORD.findall(text.lower()) if w not in words["stopwords"]]
    return " ".join(kept)


# ----------------------------------------------------------------------------------------- choosing
def _choose(reading: _Reading, vocabulary: Vocabulary) -> Plan:
    target = _target(reading, vocabulary)
    lookup = _lookup_plan(reading, vocabulary, target)
    if lookup is not None:
        return lookup
    graph = _graph_plan(reading, vocabulary, target)
    if graph is not None:
        return graph
    if target is not None:
        info = vocabulary.tables[target]
        conditions = _conditions(reading, vocabulary, target)
        if info.moments and (reading.time is not None or not conditions) and not reading.topic:
            return Plan(
                stages=[MomentsStage(table=target, time=_time_for(reading, info), limit=100)],
                confidence=0.85 if reading.time else 0.6,
                explanation=f"{target} " + (f"in {reading.time.describe()}" if reading.time else "(all)"),
            )
        if reading.topic and info.searchable:
            return _topical(reading, vocabulary, target, conditions)
        if conditions or reading.time is not None or reading.count or reading.order:
            return _filter_plan(reading, info, conditions)
        if info.searchable and _content(reading.rest, _index(vocabulary)):
            return _topical(reading, vocabulary, target, conditions)
        return _filter_plan(reading, info, conditions)
    if reading.topic:
        return _topical(reading, vocabulary, None, [])
    return _broad_search(reading, vocabulary)


def _target(reading: _Reading, vocabulary: Vocabulary) -> str | None:
    """The table the question asks for: "who" means people; else the first table named; else the
    one table whose values it mentions."""
    if re.match(r"^(who|whom|whose)\b", reading.low) or re.search(r"\b(which|what) (people|person)\b", reading.low):
        people = _people_table(vocabulary)
        if people is not None:
            return people
    if reading.tables:
        return reading.tables[0]
    tables = {table for _, table, _, _ in reading.values}
    if len(tables) == 1:
        return tables.pop()
    if reading.relations and (reading.names or reading.codes):
        # "what did Alice author", "what was reviewed by Bob": the one named is the edge's source
        # (its target when a code names a record of the target table)
        edge = vocabulary.edges[reading.relations[0]]
        home = _code_table(reading.codes[0], vocabulary) if reading.codes else None
        side = edge.sources if home is not None and home in edge.targets else edge.targets
        if side:
            return side[0]
    if reading.time is not None and not reading.topic:
        moments = [t.name for t in vocabulary.tables.values() if t.moments and t.count]
        if len(moments) == 1 and re.search(r"\b(happen|happened|going on|events?|scheduled|calendar)\b", reading.low):
            return moments[0]
    return None


def _people_table(vocabulary: Vocabulary) -> str | None:
    for table in vocabulary.tables.values():
        if any(word in table.words for word in lex.PEOPLE_WORDS):
            return table.name
    return None


def _lookup_plan(reading: _Reading, vocabulary: Vocabulary, target: str | None) -> Plan | None:
    """A question that names one thing ("what is INV-2291", "tell me about DHL", "Alise")."""
    lead = lex.LOOKUP_LEAD.match(reading.low)
    remainder = reading.low[lead.end() :] if lead else reading.low
    words = _index(vocabulary)
    leftover = [w for w in lex.WORD.findall(remainder) if w not in lex.STOP]
    table_words = {w for w, _ in words["tables"]}
    key: str | None = None
    if reading.codes and len(reading.codes) == 1:
        code_words = set(lex.WORD.findall(reading.codes[0].lower())) | set(
            lex.WORD.findall(re.sub(r"[-_]", " ", reading.codes[0].lower()))
        )
        others = [w for w in leftover if w not in code_words and w not in table_words]
        if not others and not reading.relations:
            key = reading.codes[0]
    if key is None and (lead is not None or len(leftover) <= 3) and not reading.time and not reading.relations:
        others = [w for w in leftover if w not in table_words]
        if reading.names and len(reading.names) == 1 and not reading.values:
            name_words = set(lex.WORD.findall(reading.names[0].lower()))
            if all(w in name_words for w in others):
                key = reading.names[0]
        elif lead is not None and 0 < len(others) <= 3 and not reading.count and not _plural_table_asked(reading):
            value_tables = {t for _, t, f, _ in reading.values if vocabulary.tables[t].key_field == f or f == "name"}
            if not reading.values or value_tables:
                key = " ".join(others) if len(others) > 1 else others[0]
                key = _original_case(reading.text, key)
    if key is None:
        return None
    table = target if target is not None and reading.tables else None
    exact = Plan(
        stages=[LookupStage(key=key, table=table)],
        confidence=0.9 if reading.codes else 0.75,
        explanation=f"look up {key!r}" + (f" in {table}" if table else ""),
    )
    fuzzy = Plan(
        stages=[LookupStage(key=key, table=table, fuzzy=True, limit=5)],
        confidence=0.6,
        explanation=f"no exact match: records whose key or name is like {key!r}",
    )
    return exact.model_copy(update={"fallback": fuzzy})


def _plural_table_asked(reading: _Reading) -> bool:
    """ "show me open tickets" asks for a list, not one record named "open"."""
    return bool(reading.tables) and bool(reading.values)


def _original_case(text: str, low: str) -> str:
    found = re.search(re.escape(low), text, re.I)
    return found.group(0) if found else low


def _conditions(reading: _Reading, vocabulary: Vocabulary, table: str) -> list[Condition]:
    info = vocabulary.tables[table]
    conditions: list[Condition] = []
    by_field: dict[str, list[str]] = {}
    for _, value_table, field_name, value in reading.values:
        if value_table == table and value not in by_field.get(field_name, []):
            by_field.setdefault(field_name, []).append(value)
    for field_name, values in by_field.items():
        if info.fields[field_name].is_array:
            conditions += [Condition(field=field_name, op="contains", value=v) for v in values]
        elif len(values) == 1:
            conditions.append(Condition(field=field_name, value=values[0]))
        else:
            conditions.append(Condition(field=field_name, op="in", value=values))
    for code in reading.codes:  # "tickets for project PRJ-104": a field named after the code's table
        home = _code_table(code, vocabulary)
        for field_name in info.fields:
            if (
                home is not None
                and field_name != info.key_field
                and field_name.rstrip("s") in vocabulary.tables[home].words
            ):
                conditions.append(Condition(field=field_name, value=code))
                break
        else:
            if info.key_field and home == table:
                conditions.append(Condition(field=info.key_field, value=code))
    numeric = [f.name for f in info.fields.values() if f.type in ("number", "integer")]
    for word, number in reading.numbers:
        named = [f for f in numeric if _has(reading.rest, f.replace("_", " "))]
        chosen = named[0] if named else (numeric[0] if len(numeric) == 1 else None)
        if chosen is not None:
            op = (
                ">"
                if word in ("over", "above", "more than", "greater than")
                else "<"
                if word in ("under", "below", "less than", "fewer than")
                else ">="
                if word == "at least"
                else "<="
            )
            conditions.append(Condition(field=chosen, op=op, value=int(number) if number.is_integer() else number))
    return conditions


def _code_table(code: str, vocabulary: Vocabulary) -> str | None:
    prefix = re.match(r"[A-Za-z]+", code)
    if prefix is None:
        return None
    for table in vocabulary.tables.values():
        if any(s.upper().startswith(prefix.group(0).upper()) for s in table.key_samples):
            return table.name
    return None


def _time_for(reading: _Reading, info: TableInfo) -> TimeRange | None:
    """The question's window on the field it names ("shipped last month": shipped_at), else None
    (the table's default time field)."""
    if reading.time is None:
        return None
    stamps = info.timestamp_fields()
    for stem in reading.time_words:
        for name in stamps:
            if name.lower().startswith(stem) or (stem == "created" and name == "created_at"):
                return reading.time.model_copy(update={"field": name})
    return reading.time


def _filter_plan(reading: _Reading, info: TableInfo, conditions: list[Condition]) -> Plan:
    order_by = None
    if reading.order is not None:
        order_by = _time_for(reading, info).field if reading.time and _time_for(reading, info) else None  # type: ignore[union-attr]
        order_by = order_by or info.time_field
    group_by = None
    if reading.count:
        by = re.search(r"\b(?:by|per|for each|each)\s+([a-z_]+)", reading.rest)
        if by and by.group(1) in info.fields:
            group_by = by.group(1)
    limit = 10 if reading.order is not None else 100
    said = ", ".join(f"{c.field} {c.op} {c.value}" for c in conditions)
    window = f" in {reading.time.describe()}" if reading.time else ""
    return Plan(
        stages=[
            FilterStage(
                table=info.name,
                where=conditions,
                time=_time_for(reading, info),
                count=reading.count,
                group_by=group_by,
                order_by=order_by,
                descending=reading.order == "desc",
                limit=limit,
            )
        ],
        confidence=0.85 if conditions or reading.time else 0.55,
        explanation=("count of " if reading.count else "")
        + f"{info.name}"
        + (f" where {said}" if said else "")
        + window,
    )


def _topical(reading: _Reading, vocabulary: Vocabulary, target: str | None, conditions: list[Condition]) -> Plan:
    words = _index(vocabulary)
    text = reading.topic or _content(reading.rest, words) or reading.low
    searchable = target is not None and vocabulary.tables[target].searchable
    table = target if searchable else None
    info = vocabulary.tables[target] if table is not None and target is not None else None
    return Plan(
        stages=[
            SearchStage(
                text=text,
                table=table,
                where=conditions if table else [],
                time=_time_for(reading, info) if info is not None else None,
                k=10,
            )
        ],
        confidence=0.7 if table else 0.5,
        explanation=f"{table or 'everything'} about {text!r}"
        + (f" in {reading.time.describe()}" if reading.time and table else ""),
    )


def _broad_search(reading: _Reading, vocabulary: Vocabulary) -> Plan:
    text = _content(reading.low, _index(vocabulary)) or reading.low
    return Plan(
        stages=[SearchStage(text=text, k=10)],
        confidence=0.25,
        explanation=f"no clear reading: hybrid search of every table for {text!r}",
    )


# ----------------------------------------------------------------------------------------- graph
def _graph_plan(reading: _Reading, vocabulary: Vocabulary, target: str | None) -> Plan | None:
    """An anchor (what the question starts from) and a traversal to the table it asks for."""
    edge, anchor_table = _edge_for(reading, vocabulary, target)
    if edge is None or target is None:
        return None
    direction = (
        "out"
        if target in edge.targets and target not in edge.sources
        else ("in" if target in edge.sources and target not in edge.targets else "both")
    )
    if anchor_table is None:
        others = (
            edge.targets if direction == "in" else edge.sources if direction == "out" else edge.sources + edge.targets
        )
        anchor_table = next((t for t in others if t != target), None) or (others[0] if others else None)
    anchor = _anchor(reading, vocabulary, anchor_table, target)
    if anchor is None:
        return None
    stages: list[Stage] = [anchor, TraverseStage(direction=direction, types=[edge.type], table=target)]
    target_conditions = _conditions(reading, vocabulary, target) if target != anchor_table else []
    target_conditions = [c for c in target_conditions if c.field != vocabulary.tables[target].key_field]
    if target_conditions:
        stages.append(FilterStage(table=target, where=target_conditions, from_previous=True))
    kind = anchor.kind
    return Plan(
        stages=stages,
        confidence=0.7 if kind != "search" else 0.6,
        explanation=f"{_describe_anchor(anchor)}, then {target} linked by {edge.type} ({direction})",
    )


def _edge_for(reading: _Reading, vocabulary: Vocabulary, target: str | None) -> tuple[EdgeInfo | None, str | None]:
    """The edge type the question follows: one its words name, or the one joining the two tables it
    names; and the anchor's table when the question names it."""
    if target is None:
        return None, None
    others = [t for t in reading.tables if t != target]
    others += [t for _, t, _, _ in reading.values if t != target and t not in others]
    for name in reading.relations:
        edge = vocabulary.edges[name]
        ends = set(edge.sources) | set(edge.targets)
        if target in ends:
            anchor = next((t for t in others if t in ends), None)
            return edge, anchor
    for other in others:
        for edge in vocabulary.edges.values():
            if (target in edge.sources and other in edge.targets) or (target in edge.targets and other in edge.sources):
                return edge, other
    return None, None


def _anchor(reading: _Reading, vocabulary: Vocabulary, table: str | None, target: str) -> Stage | None:
    codes = [c for c in reading.codes if table is None or _code_table(c, vocabulary) in (table, None)]
    if codes:
        return LookupStage(key=codes[0], table=table)
    names = [n for n in reading.names if table is None or n.lower() not in vocabulary.tables[table].words]
    value_names = {v.lower() for _, _, _, v in reading.values}
    names = [n for n in names if n.lower() not in value_names]
    if names:
        return LookupStage(key=names[0], fuzzy=True, table=table, limit=1)
    if table is None:
        return None
    info = vocabulary.tables[table]
    conditions = _conditions(reading, vocabulary, table)
    if conditions or (reading.time is not None and not info.moments):
        return FilterStage(table=table, where=conditions, time=_time_for(reading, info), limit=1000)
    if reading.time is not None and info.moments:
        return MomentsStage(table=table, time=reading.time, limit=1000)
    topic = reading.topic or _anchor_topic(reading, vocabulary, target, table)
    if topic and info.searchable:
        return SearchStage(text=topic, table=table, k=5)
    return None


def _anchor_topic(reading: _Reading, vocabulary: Vocabulary, target: str, table: str) -> str:
    """The words left once the question words, tables and relation words are gone: "who reviewed
    the payment service code" -> "payment service code"."""
    words = _index(vocabulary)
    relation_words = {
        w
        for name in reading.relations
        for key, forms in lex.RELATION_WORDS.items()
        if name.lower().startswith(key)
        for form in forms
        for w in form.split()
    }
    relation_words |= {w for name in reading.relations for w in name.lower().split("_")}
    return " ".join(w for w in _content(reading.rest, words).split() if w not in relation_words)


def _describe_anchor(stage: Stage) -> str:
    if isinstance(stage, LookupStage):
        return f"look up {stage.key!r}" + (" (fuzzy)" if stage.fuzzy else "")
    if isinstance(stage, FilterStage):
        said = ", ".join(f"{c.field} {c.op} {c.value}" for c in stage.where)
        window = f" in {stage.time.describe()}" if stage.time else ""
        return f"{stage.table}" + (f" where {said}" if said else "") + window
    if isinstance(stage, SearchStage):
        return f"{stage.table or 'everything'} about {stage.text!r}"
    if isinstance(stage, MomentsStage):
        return f"{stage.table} in {stage.time.describe() if stage.time else 'any time'}"
    return stage.kind
