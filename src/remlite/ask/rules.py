"""The `rules` planner: a question becomes a plan offline and deterministically (p50 1.8 ms at 10k).

`remlite.ask.reading` says what the question names (tables, values, codes, names, times, relation
words, topics); this module chooses the plan, most specific reading first:

1. **A lookup** when the question names one thing and asks nothing else ("what is INV-2291",
   "tell me about DHL", "Alise", "project Atlas", "SRCH-619 details"): exact, then fuzzy (typos,
   case, partial names), then what the question would otherwise mean, then a search.
2. **A graph question**: an anchor — a lookup of a name or code, a filter on values and times, a
   search of the words left, or moments in a window — then a traversal to the table asked for,
   along the edge type the question's relation words name or the one joining the two tables it
   names, in the direction the graph's edges run; and a filter of what it reached when the
   question says more about it ("open tickets assigned to Alice").
3. **A link through a field**: a name resolved first, then rows whose field holds its key ("open
   tickets in the Atlas project": the project, then tickets whose `project` is its code).
4. **Moments** of a moments table in a window (with the record they are linked to, when named).
5. **A filter** on the table asked for: values, negations, numbers, a time window on the field the
   question names, a count (per field), an order, a superlative.
6. **A topical search** ("documents about rate limiting") of the table named, or of every table.
7. Otherwise a hybrid search of every searchable table, with a low confidence.

Every plan keeps (7) as its last fallback, so a misread question still returns something related.
"""

from __future__ import annotations

import re
from datetime import datetime

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
from remlite.ask.reading import Reading, Value, code_table, content, has, index, read, relation_words, words_of
from remlite.ask.vocabulary import EdgeInfo, TableInfo, Vocabulary

ROWS = 1000  # a filter's rows: every match of an ordinary question, bounded


def plan_with_rules(question: str, vocabulary: Vocabulary, *, max_stages: int = 3, now: datetime | None = None) -> Plan:
    """The plan for `question` (see the module docstring), at most `max_stages` stages long."""
    reading = read(question, vocabulary)
    broad = _broad_search(reading, vocabulary)
    meaning = _choose(reading, vocabulary)
    chain = [meaning] if meaning is not None else []
    lookup = _lookup(reading, vocabulary)
    if lookup is not None:
        key, table = lookup
        exact = Plan(
            stages=[LookupStage(key=key, table=table)],
            confidence=0.9 if reading.codes else 0.8,
            explanation=f"look up {key!r}" + (f" in {table}" if table else ""),
        )
        fuzzy = Plan(stages=[LookupStage(key=key, table=table, fuzzy=True, limit=5)], confidence=0.6,
                     explanation=f"no exact match: records whose key or name is like {key!r}")  # fmt: skip
        chain = [exact, fuzzy, *chain]
    chain = [plan for plan in chain if len(plan.stages) <= max_stages]
    if not chain or chain[-1].kinds != ["search"] or chain[-1].stages[0].table is not None:  # type: ignore[union-attr]
        chain.append(broad)
    plan = chain[-1]
    for earlier in reversed(chain[:-1]):
        plan = earlier.model_copy(update={"fallback": plan})
    return plan


# ----------------------------------------------------------------------------------------- lookups
def _lookup(reading: Reading, vocabulary: Vocabulary) -> tuple[str, str | None] | None:
    """(key, table) when the question names one thing and asks nothing else about it."""
    if reading.time or reading.relations or reading.count or reading.numbers or reading.superlative:
        return None
    built = index(vocabulary)
    table_words = {w for w, _ in built["tables"]}
    remainder = reading.low[len(reading.lead) :] if reading.lead else reading.low
    for span in reading.code_spans:
        remainder = remainder.replace(span, " ")
    words = [w for w in words_of(remainder) if w not in lex.STOP and w not in lex.FILLER]
    others = [w for w in words if w not in table_words]
    if reading.codes:
        home = code_table(reading.codes[0], vocabulary)
        if len(reading.codes) > 1 or others or any(t != home for t in reading.tables):
            return None
        return reading.codes[0], home if reading.tables else None
    if not 1 <= len(others) <= 4 or len(reading.tables) > 1:
        return None
    if reading.topic_marker and not reading.lead.endswith("about"):
        return None
    if reading.tables and (set(others) & reading.value_words() or len(others) > 2):
        return None  # "open tickets": a filter, not a ticket named "open"
    if not reading.lead and len(others) > 3:
        return None
    if not reading.tables and reading.values and not reading.lead and len(others) > 1:
        return None
    return _original(reading, others), reading.tables[0] if reading.tables else None


def _original(reading: Reading, words: list[str]) -> str:
    """The words as the question wrote them, from the first to the last ("marco.rossi", "Jose Garcia")."""
    first = re.search(rf"\b{re.escape(words[0])}", reading.low)
    last = None
    for last in re.finditer(rf"{re.escape(words[-1])}\b", reading.low):  # noqa: B007 - the last match
        pass
    if first is None or last is None or last.end() <= first.start() or len(reading.low) > len(reading.text):
        return " ".join(words)
    return reading.text[first.start() : last.end()]


# ----------------------------------------------------------------------------------------- choosing
def _choose(reading: Reading, vocabulary: Vocabulary) -> Plan | None:
    target = _target(reading, vocabulary)
    if target is None:
        return _topical(reading, vocabulary, None, []) if reading.topic else None
    info = vocabulary.tables[target]
    # moments of someone in a window: the window applies to the moments, so they are the last stage
    shapes = (_linked, _graph) if info.moments and reading.time is not None else (_graph, _linked)
    for shape in shapes:
        plan = shape(reading, vocabulary, info)
        if plan is not None:
            return plan
    conditions = _conditions(reading, vocabulary, target)
    if info.moments and not reading.topic and not reading.count:
        return Plan(
            stages=[MomentsStage(table=target, time=_time_for(reading, info), where=conditions, limit=ROWS)],
            confidence=0.85 if reading.time else 0.6,
            explanation=f"{target}" + _said(conditions) + (f" in {reading.time.describe()}" if reading.time else ""),
        )
    if reading.topic and info.searchable:
        return _topical(reading, vocabulary, target, conditions)
    if conditions or reading.time or reading.count or reading.order or reading.superlative:
        return _filter_plan(reading, info, conditions)
    if info.searchable and content(reading.rest, index(vocabulary)):
        return _topical(reading, vocabulary, target, conditions)
    return _filter_plan(reading, info, conditions)


def _target(reading: Reading, vocabulary: Vocabulary) -> str | None:
    """The table the question asks for: "who" means people; else the first table named; else the
    one table whose values it mentions (when they are most of what it says)."""
    if re.match(r"^(who|whom|whose)\b", reading.low) or re.search(r"\b(which|what) (people|person)\b", reading.low):
        people = _people_table(vocabulary)
        if people is not None:
            return people
    if reading.tables:
        return reading.tables[0]
    if reading.relations and (reading.names or reading.codes):
        # "what did Alice author", "what was reviewed by Bob": the one named is the edge's source
        # (its target when a code names a record of the target table)
        edge = vocabulary.edges[reading.relations[0]]
        home = code_table(reading.codes[0], vocabulary) if reading.codes else None
        side = edge.sources if home is not None and home in edge.targets else edge.targets
        if side:
            return side[0]
    tables = {v.table for v in reading.values}
    if len(tables) == 1:
        said = reading.value_words()
        uncovered = [
            w for w in content(reading.rest, index(vocabulary)).split() if w not in said and w[:-1] not in said
        ]
        if len(uncovered) <= 1 or reading.time is not None:
            return tables.pop()
    if reading.time is not None and not reading.topic:
        moments = [t.name for t in vocabulary.tables.values() if t.moments and t.count]
        if len(moments) == 1:
            return moments[0]
    return None


def _people_table(vocabulary: Vocabulary) -> str | None:
    for table in vocabulary.tables.values():
        if any(word in table.words for word in lex.PEOPLE_WORDS):
            return table.name
    return None


def _said(conditions: list[Condition]) -> str:
    return (" where " + ", ".join(f"{c.field} {c.op} {c.value}" for c in conditions)) if conditions else ""


def _conditions(reading: Reading, vocabulary: Vocabulary, table: str) -> list[Condition]:
    info = vocabulary.tables[table]
    conditions: list[Condition] = []
    by_field: dict[tuple[str, bool], list[str]] = {}
    for value in _one_field_each(reading, [v for v in reading.values if v.table == table]):
        if value.value not in by_field.get((value.field, value.negated), []):
            by_field.setdefault((value.field, value.negated), []).append(value.value)
    for (field_name, negated), values in by_field.items():
        if info.fields[field_name].is_array:
            conditions += [Condition(field=field_name, op="contains", value=v) for v in values if not negated]
        elif negated:
            conditions += [Condition(field=field_name, op="!=", value=v) for v in values]
        elif len(values) == 1:
            conditions.append(Condition(field=field_name, value=values[0]))
        else:
            conditions.append(Condition(field=field_name, op="in", value=values))
    for code in reading.codes:  # "tickets for project PRJ-104": a field named after the code's table
        home = code_table(code, vocabulary)
        field_name = _field_for(info, vocabulary, home) if home is not None else None
        if field_name is not None:
            conditions.append(Condition(field=field_name, value=code))
    numeric = [f.name for f in info.fields.values() if f.type in ("number", "integer")]
    for word, number in reading.numbers:
        named = [f for f in numeric if has(reading.rest, f.replace("_", " "))]
        chosen = named[0] if named else (numeric[0] if numeric else None)
        if chosen is not None:
            op = {"over": ">", "above": ">", "more than": ">", "greater than": ">", "at least": ">=",
                  "under": "<", "below": "<", "less than": "<", "fewer than": "<"}.get(word, "<=")  # fmt: skip
            conditions.append(Condition(field=chosen, op=op, value=int(number) if number.is_integer() else number))
    return conditions


def _one_field_each(reading: Reading, values: list[Value]) -> list[Value]:
    """A value seen in several fields of a table ("Dubai": origin and destination) is kept in the
    one the question points at: the field it names, or the one its preposition suggests ("from
    Dubai": origin, "to Berlin": destination); else the first."""
    by_value: dict[tuple[str, int], list[Value]] = {}
    for value in values:
        by_value.setdefault((value.value, value.position), []).append(value)
    kept = []
    for (_, position), same in by_value.items():
        if len(same) == 1:
            kept.append(same[0])
            continue
        before = reading.rest[:position].split()[-1:] or [""]
        hints = lex.FIELD_HINTS.get(before[0], ())
        named = [v for v in same if has(reading.rest, v.field.replace("_", " "))]
        hinted = [v for v in same if any(h in v.field.lower() for h in hints)]
        kept.append((named or hinted or same)[0])
    return kept


def _field_for(info: TableInfo, vocabulary: Vocabulary, other: str) -> str | None:
    """The field of `info` that holds keys of table `other` (tickets.project -> projects)."""
    words = vocabulary.tables[other].words
    for name in info.fields:
        if name != info.key_field and (name in words or name.rstrip("s") in words or name.removesuffix("_id") in words):
            return name
    return None


def _time_for(reading: Reading, info: TableInfo) -> TimeRange | None:
    """The question's window on the field it names ("shipped last month": shipped_at), else on the
    table's default time field (a moments table's span: no field)."""
    if reading.time is None:
        return None
    stamps = info.timestamp_fields()
    for stem in reading.time_words:
        for name in stamps:
            if name.lower().startswith(stem) and not info.moments:
                return reading.time.model_copy(update={"field": name})
    return reading.time if info.moments else reading.time.model_copy(update={"field": info.time_field})


def _filter_plan(reading: Reading, info: TableInfo, conditions: list[Condition]) -> Plan:
    window = _time_for(reading, info)
    order_by, descending, limit = None, False, ROWS
    if reading.superlative is not None:
        numeric = [f.name for f in info.fields.values() if f.type in ("number", "integer")]
        named = [f for f in numeric if has(reading.rest, f.replace("_", " "))]
        if named or numeric:
            order_by, descending, limit = (
                (named or numeric)[0],
                reading.superlative[0] == "desc",
                reading.superlative[1],
            )
    if order_by is None and reading.order is not None:
        order_by = (window.field if window is not None else None) or info.time_field
        descending, limit = reading.order == "desc", 10
    group_by = None
    if reading.count:
        by = re.search(r"\b(?:by|per|for each|each)\s+([a-z_]+)", reading.rest)
        if by and by.group(1) in info.fields:
            group_by = by.group(1)
    return Plan(
        stages=[FilterStage(table=info.name, where=conditions, time=window, count=reading.count, group_by=group_by,
                            order_by=order_by, descending=descending, limit=limit)],
        confidence=0.85 if conditions or reading.time else 0.55,
        explanation=("count of " if reading.count else "") + info.name + _said(conditions)
        + (f" in {reading.time.describe()}" if reading.time else ""),
    )  # fmt: skip


def _topical(reading: Reading, vocabulary: Vocabulary, target: str | None, conditions: list[Condition]) -> Plan:
    text = reading.topic or content(reading.rest, index(vocabulary)) or reading.low
    info = vocabulary.tables[target] if target is not None and vocabulary.tables[target].searchable else None
    return Plan(
        stages=[SearchStage(text=text, table=info.name if info else None, where=conditions if info else [],
                            time=_time_for(reading, info) if info is not None else None, k=10)],
        confidence=0.7 if info else 0.5,
        explanation=f"{info.name if info else 'everything'} about {text!r}"
        + (f" in {reading.time.describe()}" if reading.time and info else ""),
    )  # fmt: skip


def _broad_search(reading: Reading, vocabulary: Vocabulary) -> Plan:
    text = content(reading.low, index(vocabulary)) or reading.low
    return Plan(stages=[SearchStage(text=text, k=10)], confidence=0.25,
                explanation=f"no clear reading: hybrid search of every table for {text!r}")  # fmt: skip


# ----------------------------------------------------------------------------------------- links
def _linked(reading: Reading, vocabulary: Vocabulary, info: TableInfo) -> Plan | None:
    """A name resolved first, then rows of `info` whose field holds its key ("open tickets in the
    Atlas project"), or moments linked to it ("meetings with Alice Johnson last week")."""
    names = [n for n in reading.names if n.lower() not in reading.value_words()]
    if not names or reading.codes:
        return None
    others = [t for t in reading.tables if t != info.name]
    home = others[0] if others else _people_table(vocabulary)
    if home is None or home == info.name:
        return None
    lookup = LookupStage(key=names[0], fuzzy=True, table=home, limit=1)
    conditions = _conditions(reading, vocabulary, info.name)
    if info.moments:
        stage: Stage = MomentsStage(table=info.name, time=_time_for(reading, info), where=conditions,
                                    from_previous=True, limit=ROWS)  # fmt: skip
    else:
        field_name = _field_for(info, vocabulary, home)
        if field_name is None:
            return None
        stage = FilterStage(table=info.name, where=conditions, time=_time_for(reading, info), link_field=field_name,
                            from_previous=True, limit=ROWS)  # fmt: skip
    return Plan(
        stages=[lookup, stage],
        confidence=0.7,
        explanation=f"look up {names[0]!r} in {home}, then {info.name} linked to it" + _said(conditions),
    )


# ----------------------------------------------------------------------------------------- graph
def _graph(reading: Reading, vocabulary: Vocabulary, info: TableInfo) -> Plan | None:
    """An anchor (what the question starts from) and a traversal to the table it asks for."""
    target = info.name
    edge, anchor_table = _edge_for(reading, vocabulary, target)
    if edge is None:
        return None
    direction = ("out" if target in edge.targets and target not in edge.sources
                 else "in" if target in edge.sources and target not in edge.targets else "both")  # fmt: skip
    if anchor_table is None:
        ends = (
            edge.targets if direction == "in" else edge.sources if direction == "out" else edge.sources + edge.targets
        )
        anchor_table = next((t for t in ends if t != target), None) or (ends[0] if ends else None)
    anchor = _anchor(reading, vocabulary, anchor_table, target)
    if anchor is None:
        return None
    stages: list[Stage] = [anchor, TraverseStage(direction=direction, types=[edge.type], table=target)]
    own = _conditions(reading, vocabulary, target) if target != anchor_table else []
    own = [c for c in own if c.field != vocabulary.tables[target].key_field]
    if own:
        stages.append(FilterStage(table=target, where=own, from_previous=True, limit=ROWS))
    return Plan(
        stages=stages,
        confidence=0.7 if anchor.kind != "search" else 0.6,
        explanation=f"{_describe(anchor)}, then {target} linked by {edge.type} ({direction})" + _said(own),
    )


def _edge_for(reading: Reading, vocabulary: Vocabulary, target: str) -> tuple[EdgeInfo | None, str | None]:
    """The edge type the question follows: one its words name, or the one joining the table it asks
    for to another it names (by name or by a value); and that other table."""
    own_fields = {v.value for v in reading.values if v.table == target}
    others = [t for t in reading.tables if t != target]
    others += [v.table for v in reading.values if v.table != target and v.table not in others
               and v.value not in own_fields]  # fmt: skip
    for name in reading.relations:
        edge = vocabulary.edges[name]
        ends = set(edge.sources) | set(edge.targets)
        if target in ends:
            return edge, next((t for t in others if t in ends), None)
    for other in others:
        for edge in vocabulary.edges.values():
            if (target in edge.sources and other in edge.targets) or (target in edge.targets and other in edge.sources):
                return edge, other
    if reading.names and not reading.codes and not others:  # "which projects is Lars Eriksson on?"
        people = _people_table(vocabulary)
        touching = [
            e
            for e in vocabulary.edges.values()
            if (target in e.targets and people in e.sources) or (target in e.sources and people in e.targets)
        ]
        if len(touching) == 1 and people != target:
            return touching[0], people
    return None, None


def _anchor(reading: Reading, vocabulary: Vocabulary, table: str | None, target: str) -> Stage | None:
    codes = [c for c in reading.codes if table is None or code_table(c, vocabulary) in (table, None)]
    if codes:
        return LookupStage(key=codes[0], table=table)
    names = [n for n in reading.names if table is None or n.lower() not in vocabulary.tables[table].words]
    names = [n for n in names if n.lower() not in {v.value.lower() for v in reading.values}]
    if names:
        return LookupStage(key=names[0], fuzzy=True, table=table, limit=1)
    if table is None:
        return None
    info = vocabulary.tables[table]
    conditions = _conditions(reading, vocabulary, table)
    if info.moments and (reading.time is not None or conditions):
        return MomentsStage(table=table, time=reading.time, where=conditions, limit=ROWS)
    own_time = reading.time is not None and _has_domain_time(info) and not _has_domain_time(vocabulary.tables[target])
    if conditions or own_time:  # a window belongs to the table asked for, unless only this one has dates
        return FilterStage(table=table, where=conditions, time=_time_for(reading, info) if own_time else None,
                           limit=ROWS)  # fmt: skip
    said = relation_words(reading.relations)
    topic = reading.topic or " ".join(w for w in content(reading.rest, index(vocabulary)).split() if w not in said)
    if topic and info.searchable:
        return SearchStage(text=topic, table=table, k=5)
    return None


def _has_domain_time(info: TableInfo) -> bool:
    """The table has a date of its own (not only the system's created_at/modified_at)."""
    return info.moments or any(f.timestamp and not f.system for f in info.fields.values())


def _describe(stage: Stage) -> str:
    if isinstance(stage, LookupStage):
        return f"look up {stage.key!r}" + (" (fuzzy)" if stage.fuzzy else "")
    if isinstance(stage, FilterStage):
        return stage.table + _said(stage.where) + (f" in {stage.time.describe()}" if stage.time else "")
    if isinstance(stage, SearchStage):
        return f"{stage.table or 'everything'} about {stage.text!r}"
    if isinstance(stage, MomentsStage):
        return f"{stage.table}{_said(stage.where)} in {stage.time.describe() if stage.time else 'any time'}"
    return stage.kind
