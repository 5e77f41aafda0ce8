"""A labelled evaluation set for questions in plain words (`db.ask`): data, questions and a scorer.

`build(db, now=None, size="small")` registers eight tables in an open remlite database, fills them
with a realistic, seeded company dataset whose dates are relative to `now`, and returns a `Dataset`:
the ids of every record by (table, key), the live records and edges, and the labelled questions.
Every expected answer is computed from the generated data by a predicate (never written by hand),
so it stays right whatever `now` is and whatever Python version supplied the documents' text.

    .venv/bin/python benchmarks/nl_dataset.py --summary [--size small|10k] [--questions]

Tables (key; indexed fields)
    people     handle;      role, team, city, joined (date)          person records, name is "First Last"
    projects   code PRJ-1xx; status, owner, tags, updated_at          owner is a person's handle
    tickets    code TAP-1234; status, priority, project, created_at, updated_at   project is a project code
    invoices   number INV-2291; customer, currency, status, amount, issued_on (date)
    carriers   name (DHL);  country, mode
    shipments  code SHP-123456; carrier, status, origin, destination, shipped_at  carrier is a carrier name
    documents  uri;         category, tags, created_at               title + content (content embedded)
    meetings   event_id;    start_time, end_time, moment_type, tags, people   a moments table: people are handles
Edges (all directed as written): person -authored-> document, person -reviewed-> document,
person -works_on-> project, person -assigned-> ticket, person -attended-> meeting,
shipment -carried_by-> carrier.

Question kinds, the plan a good planner makes, and how an answer is judged (`scorer`):
    lookup_exact  ["lookup"]                          "exact": the rows are exactly the expected record
    lookup_fuzzy  ["lookup"]                          "top1": the first row is the expected record
    field_filter  ["filter"] (a few ["lookup", "filter"])   "exact": the row set equals the expected set,
                                                      in any order ("top1" for "the biggest ..." questions)
    time_filter   ["filter"] or ["moments"] (one ["lookup", "moments"])   "exact"
    topical       ["search"] (optionally filtered)    "top10": an expected id among the first 10 rows
    graph         [<lookup|search|filter|moments>, "traverse"]   "all_in": every expected id is returned;
                                                      extra rows are tolerated (a traversal from a
                                                      slightly wider start set is still useful)
`Question.also_stages` lists other plan shapes that are equally right (e.g. "shipments carried by
DHL" is a traversal from DHL or a filter on `shipments.carrier`); plan-shape accuracy accepts them.

Time semantics (UTC throughout; `now` is the build's `now`; a window is closed, [start, end]):
    today          today 00:00 .. now
    yesterday      yesterday 00:00 .. today 00:00 (exclusive)
    this week      Monday 00:00 of the current ISO week .. now
    last week      Monday 00:00 of the previous week .. this Monday 00:00 (exclusive)
    last 7 days    now - 7 days .. now              (likewise "last 30 days")
    this month     the 1st 00:00 .. now
    last month     the previous calendar month, 1st 00:00 .. this month's 1st 00:00 (exclusive)
    in <Month>     that month of the current year if it has begun, else of last year (the questions
                   only name the month three months back, which is always over: in March, "December")
    since <date>   that date 00:00 .. now (dates are written ISO 8601, e.g. "since 2026-11-01")
A timestamp field is in a window when start <= value <= end. Date fields (`people.joined`,
`invoices.issued_on`) are only asked about with windows that start at midnight; a date is in when
its day lies in the window. A meeting matches when it overlaps the window (start_time <= end and
end_time >= start), which is what `db.moments(since, until)` returns. No record is dated after
`now`, so "this week" up to now and the whole week give the same answer. A few records are placed
in every window the questions ask about, so no expected set is ever empty, whatever the day.

Lookups match `people.name` ("Alice Johnson") or `people.handle`, `carriers.name`, `projects.name`
(codename) or `code`, `documents.title`, and the keys of tickets, invoices and shipments;
`meetings.people` holds handles, so "meetings with Alice Johnson" needs her handle first.
Fields the time questions filter on: tickets.created_at ("opened", "created") and tickets.updated_at
("updated"); projects.updated_at; invoices.issued_on; shipments.shipped_at ("sent", "shipped");
people.joined; documents.created_at; meetings.start_time/end_time. The system fields `created_at`
(tickets and documents declare their own, set to the domain value) and `modified_at` are the time of
the build for the other tables, so "projects updated this week" means `updated_at`, never `modified_at`.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import random
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # imported from tests/ or another benchmark: nl_corpus sits next to this file
    sys.path.insert(0, _HERE)

import nl_corpus as corpus  # noqa: E402

SEED = 20260301
KINDS = ("lookup_exact", "lookup_fuzzy", "field_filter", "time_filter", "topical", "graph")
STAGE_KINDS = ("lookup", "filter", "search", "traverse", "moments")
TOPS = ("exact", "top1", "top10", "all_in")
SIZES: dict[str, dict[str, int]] = {
    "small": {
        "people": 120,
        "projects": 24,
        "tickets": 520,
        "invoices": 320,
        "shipments": 380,
        "meeting_days": 150,
        "meetings_per_day10": 22,
        "members": 4,
    },
    "10k": {
        "people": 600,
        "projects": 60,
        "tickets": 3600,
        "invoices": 2600,
        "shipments": 2600,
        "meeting_days": 180,
        "meetings_per_day10": 45,
        "members": 8,
    },
}
TABLES = ("people", "projects", "tickets", "invoices", "carriers", "shipments", "documents", "meetings")
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
WIKI = "https://wiki.acme.dev/eng/"


# --------------------------------------------------------------------------- questions and scoring
@dataclass(frozen=True)
class Question:
    """One labelled question. `expected` holds record ids; `top` says how rows are judged (see module doc)."""

    text: str
    kind: str
    expected_stages: list[str]
    expected: frozenset[str]
    top: str
    also_stages: tuple[tuple[str, ...], ...] = ()
    why: str = ""  # the predicate in words, printed beside a failure

    def shape_ok(self, stage_kinds: Sequence[str]) -> bool:
        """Plan-shape check: the plan's stage kinds, in order, are the expected ones or an accepted alternative."""
        got = tuple(stage_kinds)
        return got == tuple(self.expected_stages) or got in self.also_stages


def _row_id(row: Mapping[str, Any] | str) -> str:
    return row if isinstance(row, str) else str(row.get("id"))


def scorer(question: Question, rows: Sequence[Mapping[str, Any] | str]) -> bool:
    """Is `rows` (dicts with `id`, or ids, best first) a right answer to `question`?

    exact: the set of ids equals `expected` (order and duplicates ignored); top1: the first row is
    expected; top10: some expected id is among the first 10 rows; all_in: every expected id is
    among the rows (extra rows tolerated)."""
    ids = [_row_id(r) for r in rows]
    if question.top == "exact":
        return set(ids) == question.expected
    if question.top == "top1":
        return bool(ids) and ids[0] in question.expected
    if question.top == "top10":
        return any(i in question.expected for i in ids[:10])
    if question.top == "all_in":
        return question.expected <= set(ids)
    raise ValueError(f"unknown top {question.top!r}")


@dataclass
class Dataset:
    """What `build` wrote: ids by (table, key), the live records (with `id`), the live edges
    `(src_id, dst_id, type)`, hidden labels (ticket topic, project theme) and the questions."""

    now: datetime
    size: str
    ids: dict[tuple[str, str], str]
    records: dict[str, dict[str, dict[str, Any]]]
    edges: list[tuple[str, str, str]]
    labels: dict[str, dict[str, str]]
    deleted: list[str]
    questions: list[Question] = field(default_factory=list)

    def id(self, table: str, key: str) -> str:
        return self.ids[(table, key)]

    def counts(self) -> dict[str, int]:
        return {table: len(self.records[table]) for table in TABLES}

    def by_kind(self) -> dict[str, list[Question]]:
        out: dict[str, list[Question]] = {kind: [] for kind in KINDS}
        for question in self.questions:
            out[question.kind].append(question)
        return out

    def record(self, rid: str) -> dict[str, Any] | None:
        """The live record with this id (and its table under `_table`), for reports."""
        for table, rows in self.records.items():
            for row in rows.values():
                if row["id"] == rid:
                    return {**row, "_table": table}
        return None


# --------------------------------------------------------------------------- time windows
Window = tuple[datetime, datetime]
_MICRO = timedelta(microseconds=1)


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


def _next_month(start: datetime) -> datetime:
    return _month_start(start.year + start.month // 12, start.month % 12 + 1)


def window(name: str, now: datetime, arg: str | int | None = None) -> Window:
    """The closed window [start, end] a time expression means at `now` (see the module docstring)."""
    today = _midnight(now)
    monday = today - timedelta(days=today.weekday())
    first = _month_start(now.year, now.month)
    if name == "today":
        return today, now
    if name == "yesterday":
        return today - timedelta(days=1), today - _MICRO
    if name == "this_week":
        return monday, now
    if name == "last_week":
        return monday - timedelta(days=7), monday - _MICRO
    if name == "last_7_days":
        return now - timedelta(days=7), now
    if name == "last_30_days":
        return now - timedelta(days=30), now
    if name == "this_month":
        return first, now
    if name == "last_month":
        previous = _month_start(now.year - (now.month == 1), (now.month - 2) % 12 + 1)
        return previous, first - _MICRO
    if name == "month":
        month = int(arg or 0)
        start = _month_start(now.year if month <= now.month else now.year - 1, month)
        return start, min(now, _next_month(start) - _MICRO)
    if name == "since":
        return datetime.fromisoformat(str(arg)).replace(tzinfo=UTC), now
    raise ValueError(f"unknown window {name!r}")


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def in_window(value: str, win: Window) -> bool:
    """A timestamp (ISO text) or a date (YYYY-MM-DD: its day) inside the closed window."""
    if len(value) == 10:
        day = date.fromisoformat(value)
        return win[0].date() <= day <= win[1].date()
    return win[0] <= _parse(value) <= win[1]


def overlaps(meeting: Mapping[str, Any], win: Window) -> bool:
    """`db.moments` semantics: the meeting overlaps the window."""
    return _parse(meeting["start_time"]) <= win[1] and _parse(meeting["end_time"]) >= win[0]


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A whole-second instant in [start, end] (start when the window is shorter than a second)."""
    low = int(start.timestamp()) + (start.microsecond > 0)
    high = int(end.timestamp())
    return datetime.fromtimestamp(rng.randint(low, high) if high > low else low, UTC)


# --------------------------------------------------------------------------- schemas
def _s(kind: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "description": description, **extra}


_TS = {"format": "date-time"}
SCHEMAS: dict[str, dict[str, Any]] = {
    "people": {
        "name": "people",
        "description": "Employees: who they are, their team, role and office.",
        "type": "object",
        "properties": {
            "handle": _s("string", "Unique login handle, first.last (e.g. alice.johnson)."),
            "name": _s("string", "Full name as shown in the directory."),
            "email": _s("string", "Work email address."),
            "role": _s(
                "string",
                "Job role: engineer, manager, designer, analyst, product manager, data scientist, sre or qa engineer.",
            ),
            "team": _s("string", "Team: platform, payments, search, mobile, data, infrastructure, security, growth."),
            "city": _s("string", "Office city."),
            "joined": _s("string", "Date the person joined the company.", format="date"),
        },
        "required": ["handle", "name", "role", "team"],
        "key_field": "handle",
        "indexed_fields": ["role", "team", "city", "joined"],
    },
    "projects": {
        "name": "projects",
        "description": "Engineering projects with a code, an owner and a status.",
        "type": "object",
        "properties": {
            "code": _s("string", "Project code, PRJ-<number>."),
            "name": _s("string", "Project codename (e.g. Atlas)."),
            "description": _s("string", "What the project does and why."),
            "status": _s("string", "active, paused or done.", enum=["active", "paused", "done"]),
            "owner": _s("string", "Handle of the person accountable for the project."),
            "tags": {"type": "array", "items": {"type": "string"}, "description": "Topic tags."},
            "started_on": _s("string", "Date work started.", format="date"),
            "updated_at": _s("string", "Last time the project's plan or status changed.", **_TS),
        },
        "required": ["code", "name", "status"],
        "key_field": "code",
        "indexed_fields": ["status", "owner", "tags", "updated_at"],
        "embedding_fields": ["description"],
    },
    "tickets": {
        "name": "tickets",
        "description": "Issue tracker tickets (bugs and tasks) of the engineering projects.",
        "type": "object",
        "properties": {
            "code": _s("string", "Ticket key: team prefix and number, e.g. TAP-1234 or OPS-77."),
            "title": _s("string", "One-line summary of the problem or task."),
            "status": _s("string", "open, in_progress or closed.", enum=["open", "in_progress", "closed"]),
            "priority": _s("string", "low, medium, high or critical.", enum=["low", "medium", "high", "critical"]),
            "project": _s("string", "Code of the project the ticket belongs to (PRJ-...)."),
            "created_at": _s("string", "When the ticket was opened.", **_TS),
            "updated_at": _s("string", "Last change to the ticket (status, comment, assignee).", **_TS),
        },
        "required": ["code", "title", "status", "priority", "project"],
        "key_field": "code",
        "indexed_fields": ["status", "priority", "project", "created_at", "updated_at"],
        "embedding_fields": ["title"],
    },
    "invoices": {
        "name": "invoices",
        "description": "Invoices sent to customers.",
        "type": "object",
        "properties": {
            "number": _s("string", "Invoice number, INV-<number>."),
            "customer": _s("string", "Customer company name."),
            "amount": _s("number", "Total amount in `currency`, tax included."),
            "currency": _s("string", "ISO 4217 currency code: EUR, USD or GBP."),
            "status": _s(
                "string", "paid, open (not yet due) or overdue (past due, unpaid).", enum=["paid", "open", "overdue"]
            ),
            "issued_on": _s("string", "Date the invoice was issued.", format="date"),
            "due_on": _s("string", "Date payment is due.", format="date"),
        },
        "required": ["number", "customer", "amount", "currency", "status", "issued_on"],
        "key_field": "number",
        "indexed_fields": ["customer", "currency", "status", "amount", "issued_on"],
    },
    "carriers": {
        "name": "carriers",
        "description": "Freight and parcel carriers we ship with.",
        "type": "object",
        "properties": {
            "name": _s("string", "Carrier name, e.g. DHL or Maersk."),
            "country": _s("string", "Country of the carrier's headquarters."),
            "mode": _s("string", "Main transport mode: air, sea or road.", enum=["air", "sea", "road"]),
            "website": _s("string", "Carrier website."),
        },
        "required": ["name", "mode"],
        "key_field": "name",
        "indexed_fields": ["country", "mode"],
    },
    "shipments": {
        "name": "shipments",
        "description": "Outbound shipments and their tracking status.",
        "type": "object",
        "properties": {
            "code": _s("string", "Shipment reference, SHP-<6 digits>."),
            "carrier": _s("string", "Name of the carrier moving it (a carriers.name)."),
            "status": _s("string", "in_transit, delayed or delivered.", enum=["in_transit", "delayed", "delivered"]),
            "shipped_at": _s("string", "When the shipment left the origin.", **_TS),
            "eta": _s("string", "Estimated arrival.", **_TS),
            "origin": _s("string", "City it left from."),
            "destination": _s("string", "City it goes to."),
            "weight_kg": _s("number", "Gross weight in kilograms."),
        },
        "required": ["code", "carrier", "status", "shipped_at", "origin", "destination"],
        "key_field": "code",
        "indexed_fields": ["carrier", "status", "origin", "destination", "shipped_at"],
    },
    "documents": {
        "name": "documents",
        "description": "Knowledge base: Python reference pages and the team's design notes, reviews, "
        "post-mortems, runbooks and guides.",
        "type": "object",
        "properties": {
            "uri": _s("string", "Where the document lives."),
            "title": _s("string", "Document title."),
            "content": _s("string", "Document text."),
            "category": _s(
                "string", "python-docs, design, code-review, incident, runbook, guide, rfc, security or policy."
            ),
            "tags": {"type": "array", "items": {"type": "string"}, "description": "Topic tags."},
            "created_at": _s("string", "When the document was written or imported.", **_TS),
        },
        "required": ["uri", "title", "content", "category"],
        "key_field": "uri",
        "indexed_fields": ["category", "tags", "created_at"],
        "embedding_fields": ["content"],
        "text_fields": ["title", "content"],
    },
    "meetings": {
        "name": "meetings",
        "description": "Calendar meetings: time-bounded events with their attendees (a moments table).",
        "type": "object",
        "properties": {
            "event_id": _s("string", "Calendar event id."),
            "name": _s("string", "Meeting title as in the calendar."),
            "summary": _s("string", "What the meeting was about."),
            "moment_type": _s(
                "string",
                "Kind of meeting: standup, planning, retro, 1:1, design review, "
                "incident review, customer call, interview or all hands.",
            ),
            "start_time": _s("string", "Start (UTC).", **_TS),
            "end_time": _s("string", "End (UTC).", **_TS),
            "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags, e.g. the team."},
            "people": {"type": "array", "items": {"type": "string"}, "description": "Handles of the attendees."},
        },
        "required": ["event_id", "name", "start_time", "end_time"],
        "key_field": "event_id",
        "indexed_fields": ["start_time", "end_time", "moment_type", "tags", "people"],
        "text_fields": ["name", "summary"],
    },
}
KEYS = {name: schema["key_field"] for name, schema in SCHEMAS.items()}


# --------------------------------------------------------------------------- generation
def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _weighted(rng: random.Random, weights: Mapping[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _recent(rng: random.Random, now: datetime, days: int, skew: float = 2.0) -> datetime:
    """An instant up to `days` before now, denser near now (real tables grow)."""
    return now - timedelta(seconds=int(rng.random() ** skew * days * 86400))


class _Gen:
    """Builds every table's records (by key) and the edges (by key) from one seeded generator."""

    def __init__(self, now: datetime, size: str) -> None:
        self.now, self.size, self.cfg = now, size, SIZES[size]
        self.rng = random.Random(f"{SEED}:{size}")
        self.rows: dict[str, dict[str, dict[str, Any]]] = {table: {} for table in TABLES}
        self.edges: list[tuple[str, str, str, str, str]] = []  # src table, src key, dst table, dst key, type
        self.labels: dict[tuple[str, str], dict[str, str]] = {}
        self.members: dict[str, list[str]] = {}  # project code -> handles working on it
        self.counters: dict[str, int] = {}  # ticket prefix -> last number used
        self.today = _midnight(now)

    def add(self, table: str, record: dict[str, Any]) -> dict[str, Any]:
        key = record[KEYS[table]]
        if key in self.rows[table]:
            raise ValueError(f"duplicate key {table}:{key}")
        self.rows[table][key] = record
        return record

    def edge(self, src: tuple[str, str], dst: tuple[str, str], kind: str) -> None:
        self.edges.append((src[0], src[1], dst[0], dst[1], kind))

    def run(self) -> None:
        self.people()
        self.projects()
        self.tickets()
        self.invoices()
        self.carriers()
        self.shipments()
        self.documents()
        self.meetings()

    # -- people
    def people(self) -> None:
        rng = self.rng
        for handle, name, team, role in corpus.FEATURED_PEOPLE:
            self.add("people", self._person(handle, name, team, role, _recent(rng, self.now, 6 * 365, 1.0).date()))
        names = sorted({f"{f} {last}" for f in corpus.FIRST_NAMES for last in corpus.LAST_NAMES})
        rng.shuffle(names)
        for name in names[: self.cfg["people"] - len(corpus.FEATURED_PEOPLE)]:
            handle = _ascii(name).lower().replace(" ", ".")
            team, role = rng.choice(corpus.TEAMS), _weighted(rng, corpus.ROLES)
            self.add("people", self._person(handle, name, team, role, _recent(rng, self.now, 6 * 365, 1.3).date()))
        # anchors: someone joined this month, whatever day of the month it is
        fillers = sorted(set(self.rows["people"]) - {p[0] for p in corpus.FEATURED_PEOPLE})
        for handle in rng.sample(fillers, 2):
            start, end = window("this_month", self.now)
            self.rows["people"][handle]["joined"] = _between(rng, start, end).date().isoformat()

    def _person(self, handle: str, name: str, team: str, role: str, joined: date) -> dict[str, Any]:
        return {
            "handle": handle,
            "name": name,
            "email": f"{handle}@acme.dev",
            "role": role,
            "team": team,
            "city": self.rng.choice(corpus.CITIES),
            "joined": joined.isoformat(),
        }

    def team_of(self, team: str) -> list[str]:
        return sorted(h for h, p in self.rows["people"].items() if p["team"] == team)

    # -- projects
    def projects(self) -> None:
        rng, now = self.rng, self.now
        themes = sorted(corpus.THEMES)
        rng.shuffle(themes)
        seen: set[str] = set()
        for i in range(self.cfg["projects"]):
            theme = themes[i % len(themes)]
            code, name = f"PRJ-{101 + i}", corpus.CODENAMES[i]
            spec = corpus.THEMES[theme]
            status = "active" if theme not in seen else _weighted(rng, {"active": 55, "paused": 15, "done": 30})
            seen.add(theme)
            team = self.team_of(spec["team"])
            leads = [h for h in team if self.rows["people"][h]["role"] in ("manager", "product manager")] or team
            owner = rng.choice(leads)
            age = {"active": (0, 30), "paused": (30, 200), "done": (60, 400)}[status]
            updated = now - timedelta(seconds=rng.randint(age[0] * 86400, age[1] * 86400))
            started = updated - timedelta(days=rng.randint(30, 500))
            extra = rng.sample(["q3", "q4", "okr", "customer-facing", "internal", "migration"], rng.randint(0, 2))
            self.add(
                "projects",
                {
                    "code": code,
                    "name": name,
                    "description": rng.choice(spec["descriptions"]).format(name=name),
                    "status": status,
                    "owner": owner,
                    "tags": [*spec["tags"], *extra],
                    "started_on": started.date().isoformat(),
                    "updated_at": _ts(updated),
                },
            )
            self.labels[("projects", code)] = {"theme": theme}
            others = sorted(set(self.rows["people"]) - set(team))
            k = rng.randint(2, self.cfg["members"])
            crew = {owner, *rng.sample(team, min(len(team), k)), *rng.sample(others, rng.randint(0, 2))}
            self.members[code] = sorted(crew)
            for handle in self.members[code]:
                self.edge(("people", handle), ("projects", code), "works_on")
        projects = self.rows["projects"]
        paused = [c for c, p in projects.items() if p["status"] == "paused"]
        for code in sorted(projects, reverse=True)[: max(0, 2 - len(paused))]:
            projects[code]["status"] = "paused"  # at least two paused projects to ask about
        active = sorted(c for c, p in projects.items() if p["status"] == "active")
        for code in rng.sample(active, 2):  # anchors: updated this week, whatever the weekday
            projects[code]["updated_at"] = _ts(_between(rng, *window("this_week", now)))

    # -- tickets
    def tickets(self) -> None:
        rng, now = self.rng, self.now
        projects = self.rows["projects"]
        codes = sorted(projects)
        weights = [{"active": 4, "paused": 1, "done": 1}[projects[c]["status"]] for c in codes]
        self.counters = {spec["prefix"]: rng.randint(40, 900) for spec in corpus.THEMES.values()}
        topics = sorted(corpus.TICKET_TITLES)
        for _ in range(self.cfg["tickets"]):
            project = rng.choices(codes, weights=weights)[0]
            theme = self.labels[("projects", project)]["theme"]
            topic = theme if rng.random() < 0.6 else rng.choice(topics)
            created = _recent(rng, now, 540, 1.5)
            if projects[project]["status"] == "done":
                created = min(created, _parse(projects[project]["updated_at"]) - timedelta(days=1))
            self._ticket(self._next_code(theme), project, topic, created)
        # keys the questions quote; when not drawn, a ticket of that prefix is renamed
        for code in ("TAP-1234", "OPS-77"):
            if code not in self.rows["tickets"]:
                prefix = code.split("-")[0]
                pick = sorted(k for k in self.rows["tickets"] if k.startswith(prefix + "-"))[0]
                record = self.rows["tickets"].pop(pick)
                self.labels[("tickets", code)] = self.labels.pop(("tickets", pick))
                self.rows["tickets"][code] = {**record, "code": code}
        # anchors: a ticket opened today, critical ones this week, some updated yesterday
        active = sorted(c for c, p in projects.items() if p["status"] == "active")
        anchors = [
            ("today", {"status": "open"}),
            ("today", {}),
            ("this_week", {"priority": "critical", "status": "open"}),
            ("this_week", {"priority": "critical", "status": "in_progress"}),
        ]
        for name, overrides in anchors:
            project = rng.choice(active)
            theme = self.labels[("projects", project)]["theme"]
            record = self._ticket(self._next_code(theme), project, theme, _between(rng, *window(name, now)))
            record.update(overrides)
        start, end = window("yesterday", now)
        older = sorted(k for k, t in self.rows["tickets"].items() if _parse(t["created_at"]) < start)
        for code in rng.sample(older, 3):
            self.rows["tickets"][code]["updated_at"] = _ts(_between(rng, start, end))
        # assignments: one person per ticket (most tickets), from the project's crew
        for code in sorted(self.rows["tickets"]):
            ticket = self.rows["tickets"][code]
            if code in ("TAP-1234", "OPS-77") or rng.random() < 0.9:
                self.edge(("people", rng.choice(self.members[ticket["project"]])), ("tickets", code), "assigned")

    def _next_code(self, theme: str) -> str:
        """The next free key of the theme's prefix: numbers grow with gaps, as in a shared tracker."""
        prefix = corpus.THEMES[theme]["prefix"]
        self.counters[prefix] += self.rng.randint(1, 3)
        while f"{prefix}-{self.counters[prefix]}" in self.rows["tickets"]:
            self.counters[prefix] += 1
        return f"{prefix}-{self.counters[prefix]}"

    def _ticket(self, code: str, project: str, topic: str, created: datetime) -> dict[str, Any]:
        rng, now = self.rng, self.now
        age = (now - created).days
        mix = (
            {"open": 50, "in_progress": 35, "closed": 15}
            if age < 7
            else (
                {"open": 30, "in_progress": 30, "closed": 40}
                if age < 60
                else {"open": 8, "in_progress": 7, "closed": 85}
            )
        )
        status = _weighted(rng, mix)
        if self.rows["projects"][project]["status"] == "done":
            status = "closed"
        updated = _between(rng, created, min(now, created + timedelta(days=rng.randint(0, 90))))
        record = self.add(
            "tickets",
            {
                "code": code,
                "title": rng.choice(corpus.TICKET_TITLES[topic]) + rng.choice(corpus.TITLE_SUFFIXES),
                "status": status,
                "priority": _weighted(rng, {"low": 30, "medium": 40, "high": 22, "critical": 8}),
                "project": project,
                "created_at": _ts(created),
                "updated_at": _ts(max(updated, created)),
            },
        )
        self.labels[("tickets", code)] = {"topic": topic}
        return record

    # -- invoices
    def invoices(self) -> None:
        rng, now = self.rng, self.now
        customers = corpus.CUSTOMERS
        weights = [1 / (i + 1) ** 0.8 for i in range(len(customers))]  # a few big customers
        start, _ = window("last_month", now)
        plan = [(_recent(rng, now, 540, 1.0).date(), False) for _ in range(self.cfg["invoices"])]
        # anchors: issued in the first days of last month, one of them unpaid and past due
        plan += [(start.date() + timedelta(days=rng.randint(0, 4)), i == 2) for i in range(3)]
        plan.sort()
        number = 2291 - int(self.cfg["invoices"] * 0.6)
        for day, overdue in plan:
            number += rng.randint(1, 2)
            self._invoice(f"INV-{number}", rng.choices(customers, weights=weights)[0], day, overdue)
        if "INV-2291" not in self.rows["invoices"]:
            pick = sorted(self.rows["invoices"])[len(self.rows["invoices"]) // 2]
            self.rows["invoices"]["INV-2291"] = {**self.rows["invoices"].pop(pick), "number": "INV-2291"}

    def _invoice(self, key: str, customer: str, issued: date, overdue: bool) -> None:
        rng = self.rng
        terms = 14 if overdue else rng.choice([14, 30, 30, 45])
        due = issued + timedelta(days=terms)
        today = self.today.date()
        paid = not overdue and rng.random() < (0.35 if due >= today else 0.93)
        status = "paid" if paid else ("overdue" if due < today else "open")
        amount = round(min(250_000.0, max(50.0, rng.lognormvariate(7.5, 1.0))), 2)
        self.add(
            "invoices",
            {
                "number": key,
                "customer": customer,
                "amount": amount,
                "currency": _weighted(rng, corpus.CURRENCIES),
                "status": status,
                "issued_on": issued.isoformat(),
                "due_on": due.isoformat(),
            },
        )

    # -- carriers and shipments
    def carriers(self) -> None:
        for name, country, mode in corpus.CARRIERS:
            site = "https://www." + _ascii(name).lower().replace(" ", "").replace("+", "") + ".com"
            self.add("carriers", {"name": name, "country": country, "mode": mode, "website": site})

    def shipments(self) -> None:
        rng, now = self.rng, self.now
        names = [c[0] for c in corpus.CARRIERS]
        weights = [6, 5, 5, 4, 3, 3, 2, 2, 2, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1]
        codes = rng.sample(range(100_000, 1_000_000), self.cfg["shipments"] + 5)
        plan = [(None, None)] * self.cfg["shipments"]
        plan += [("last_7_days", None)] * 3 + [("last_month", "delayed")] * 2  # anchors
        for code, (win, status) in zip(codes, plan, strict=True):
            carrier = rng.choices(names, weights=weights)[0]
            mode = self.rows["carriers"][carrier]["mode"]
            origin, destination = rng.sample(corpus.HUBS[mode], 2)
            shipped = _recent(rng, now, 365, 1.5) if win is None else _between(rng, *window(win, now))
            eta = shipped + timedelta(days=rng.randint(*corpus.TRANSIT_DAYS[mode]), hours=rng.randint(0, 23))
            if status is None:
                late = rng.random() < (0.15 if eta > now else 0.1)
                status = "delayed" if late else ("in_transit" if eta > now else "delivered")
            key = f"SHP-{code}"
            self.add(
                "shipments",
                {
                    "code": key,
                    "carrier": carrier,
                    "status": status,
                    "shipped_at": _ts(shipped),
                    "eta": _ts(eta),
                    "origin": origin,
                    "destination": destination,
                    "weight_kg": round(rng.uniform(0.5, 30) if mode != "sea" else rng.uniform(800, 24_000), 1),
                },
            )
            self.edge(("shipments", key), ("carriers", carrier), "carried_by")

    # -- documents
    def documents(self) -> None:
        imported = self.today - timedelta(days=400)
        for i, (module, (title, members)) in enumerate(sorted(corpus.PYTHON_MODULES.items())):
            self.add(
                "documents",
                {
                    "uri": f"https://docs.python.org/3/library/{module}.html",
                    "title": title,
                    "content": python_doc(module, members),
                    "category": "python-docs",
                    "tags": ["python", "stdlib"],
                    "created_at": _ts(imported + timedelta(minutes=i)),
                },
            )
        for doc in corpus.ENGINEERING_DOCS:
            created = (
                self.today - timedelta(days=doc["days_ago"]) + timedelta(hours=10, minutes=self.rng.randint(0, 59))
            )
            key = WIKI + doc["slug"]
            self.add(
                "documents",
                {
                    "uri": key,
                    "title": doc["title"],
                    "content": doc["content"],
                    "category": doc["category"],
                    "tags": doc["tags"],
                    "created_at": _ts(created),
                },
            )
            for handle in doc["authors"]:
                self.edge(("people", handle), ("documents", key), "authored")
            for handle in doc["reviewers"]:
                self.edge(("people", handle), ("documents", key), "reviewed")

    # -- meetings
    def meetings(self) -> None:
        rng, now = self.rng, self.now
        kinds = {k: v["weight"] for k, v in corpus.MEETING_KINDS.items()}
        planned: list[dict[str, Any]] = []
        for back in range(self.cfg["meeting_days"], -1, -1):
            day = self.today - timedelta(days=back)
            if day.weekday() >= 5:
                continue
            rate = self.cfg["meetings_per_day10"] / 10
            for _ in range(int(rate) + (rng.random() < rate - int(rate))):
                kind = _weighted(rng, kinds)
                start = day + timedelta(hours=rng.randint(8, 16), minutes=rng.choice([0, 30]))
                meeting = self._meeting(kind, start, rng.choice(corpus.TEAMS))
                if _parse(meeting["end_time"]) <= now:
                    planned.append(meeting)
        # anchors: today, yesterday, and two of Alice Johnson's meetings last week
        start, _ = window("today", now)
        at = start + timedelta(hours=9)
        if at + timedelta(minutes=15) > now:
            at = start + (now - start) / 2
        standup = self._meeting("standup", at, "platform")
        standup["end_time"] = _ts(min(_parse(standup["end_time"]), now))
        planned.append(standup)
        yesterday = self.today - timedelta(days=1)
        planned.append(self._meeting("standup", yesterday + timedelta(hours=9), "search"))
        planned.append(self._meeting("design review", yesterday + timedelta(hours=14), "platform"))
        monday = window("last_week", now)[0]
        one = self._meeting("1:1", monday + timedelta(days=1, hours=10), "platform", ["sarah.khan", "alice.johnson"])
        review = self._meeting("design review", monday + timedelta(days=3, hours=14), "platform")
        review["people"] = sorted({*review["people"], "alice.johnson"})
        planned += [one, review]
        planned.sort(key=lambda m: (m["start_time"], m["name"]))
        for n, meeting in enumerate(planned, start=1):
            meeting["event_id"] = f"EVT-{n:05d}"
            self.add("meetings", meeting)
            for handle in meeting["people"]:
                self.edge(("people", handle), ("meetings", meeting["event_id"]), "attended")

    def _meeting(self, kind: str, start: datetime, team: str, people: list[str] | None = None) -> dict[str, Any]:
        rng = self.rng
        spec = corpus.MEETING_KINDS[kind]
        minutes = rng.randint(*spec["minutes"])
        crew = self.team_of(team)
        everyone = sorted(self.rows["people"])
        label = team.capitalize()
        if kind == "standup":
            name, summary = f"Daily standup - {label}", f"{label} team standup: progress, plans for today, blockers."
            people = people or rng.sample(crew, min(len(crew), rng.randint(4, 8)))
        elif kind in ("planning", "retro"):
            word = "Sprint planning" if kind == "planning" else "Sprint retro"
            name = f"{word} - {label}"
            summary = (
                f"{label} sprint planning: estimate and commit the next two weeks of tickets."
                if kind == "planning"
                else f"{label} retrospective: what went well, what to change."
            )
            people = people or rng.sample(crew, min(len(crew), rng.randint(4, 8)))
        elif kind == "1:1":
            pair = people or rng.sample(crew, 2)
            first = [self.rows["people"][h]["name"].split()[0] for h in pair]
            name, summary, people = f"1:1 {first[0]} / {first[1]}", "Weekly one-on-one.", pair
        elif kind == "design review":
            topic = rng.choice(corpus.DESIGN_TOPICS)
            name, summary = f"Design review: {topic}", f"Review of the design proposal for {topic}."
            people = people or sorted({*rng.sample(crew, min(len(crew), 3)), *rng.sample(everyone, 2)})
        elif kind == "incident review":
            incident = rng.choice(corpus.INCIDENTS)
            name, summary = (
                f"Incident review: {incident}",
                f"Blameless review of the {incident}: timeline, causes, actions.",
            )
            people = people or sorted({*rng.sample(crew, min(len(crew), 3)), *rng.sample(everyone, 3)})
        elif kind == "customer call":
            customer = rng.choice(corpus.CUSTOMERS)
            name, summary = f"Customer call: {customer}", f"Call with {customer} about their account and open issues."
            people = people or rng.sample(crew, min(len(crew), rng.randint(2, 3)))
        elif kind == "interview":
            role = rng.choice(["backend engineer", "designer", "data scientist", "engineering manager", "sre"])
            name, summary = f"Interview: {role} candidate", f"Panel interview for the {role} opening."
            people = people or rng.sample(crew, min(len(crew), rng.randint(2, 3)))
        else:
            name, summary = "All hands", "Company all hands: results, plans and questions."
            people = people or rng.sample(everyone, min(len(everyone), rng.randint(12, 30)))
        tags = [*spec["tags"], team] if kind != "all hands" else [*spec["tags"]]
        return {
            "event_id": "",
            "name": name,
            "summary": summary,
            "moment_type": kind,
            "start_time": _ts(start),
            "end_time": _ts(start + timedelta(minutes=minutes)),
            "tags": tags,
            "people": sorted(set(people)),
        }


def python_doc(module: str, members: Sequence[str]) -> str:
    """A document's text from a standard-library module: the first paragraphs of its docstring, plus
    the first paragraph of some members' docstrings when the module's own is short. The text varies
    between Python versions; no expected answer depends on it."""
    mod = importlib.import_module(module)
    parts: list[str] = []
    for para in (inspect.getdoc(mod) or "").split("\n\n"):
        if sum(len(p) for p in parts) > 900:
            break
        if para.strip():
            parts.append(" ".join(para.split()))  # docstrings are hard-wrapped; documents are not
    if sum(len(p) for p in parts) < 400:
        for member in members:
            doc = inspect.getdoc(getattr(mod, member, None)) if hasattr(mod, member) else None
            if doc:
                parts.append(f"{module}.{member}: {' '.join(doc.split(chr(10) * 2)[0].split())}")
    return "\n\n".join(parts)[:2000] or module


# --------------------------------------------------------------------------- loading
def build(db: Any, now: datetime | None = None, size: str = "small") -> Dataset:
    """Register the tables in `db` (an open remlite database), fill them and return the Dataset.

    Deterministic for a given `now` and `size` (and tenant name, which seeds remlite's ids)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    gen = _Gen(now, size)
    gen.run()
    for table in TABLES:
        db.register_schema(SCHEMAS[table])
    ids: dict[tuple[str, str], str] = {}
    carried = {e[1]: e[3] for e in gen.edges if e[4] == "carried_by"}
    for table in TABLES:
        keys = list(gen.rows[table])
        if table == "shipments":  # the carrier edge written with the row, in its batch
            records = [
                {**gen.rows[table][k], "_edges": [{"dst": ids[("carriers", carried[k])], "type": "carried_by"}]}
                for k in keys
            ]
        else:
            records = [gen.rows[table][k] for k in keys]
        for key, rid in zip(keys, db.insert_batch(table, records), strict=True):
            ids[(table, key)] = rid
    edges = [(ids[(st, sk)], ids[(dt, dk)], kind) for st, sk, dt, dk, kind in gen.edges]
    db.add_edges([e for e in edges if e[2] != "carried_by"])
    # a few old tickets deleted (duplicates): present in storage, never an answer; never one the
    # questions quote or one placed in a recent window
    month_ago = now - timedelta(days=31)
    rng = random.Random(f"{SEED}:{size}:deleted")
    old = sorted(
        k
        for k, t in gen.rows["tickets"].items()
        if k not in ("TAP-1234", "OPS-77") and _parse(t["updated_at"]) < month_ago
    )
    doomed = rng.sample(old, 4)
    deleted = [ids[("tickets", k)] for k in doomed]
    for rid in deleted:
        db.delete(rid)
    gone = set(deleted)
    records = {
        table: {k: {**r, "id": ids[(table, k)]} for k, r in gen.rows[table].items() if ids[(table, k)] not in gone}
        for table in TABLES
    }
    labels = {ids[key]: value for key, value in gen.labels.items() if ids[key] not in gone}
    live_edges = [e for e in edges if e[0] not in gone and e[1] not in gone]
    ds = Dataset(now, size, ids, records, live_edges, labels, deleted)
    ds.questions = make_questions(ds)
    return ds


# --------------------------------------------------------------------------- questions
def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _nearest_is(ds: Dataset, probe: str, table: str, key: str) -> None:
    """Guard against an ambiguous fuzzy question: the intended record must be strictly nearer to the
    probe (edit distance to its key, name or a word of its name, case-folded) than any other record
    of any table. Raises if the dataset made the question ambiguous."""
    probe = probe.casefold()

    def distance(record: Mapping[str, Any], tkey: str) -> int:
        names = [tkey, str(record.get("name") or "")]
        names += names[1].split()
        return min(_levenshtein(probe, n.casefold()) for n in names if n)

    best: dict[tuple[str, str], int] = {}
    for tname in ("people", "projects", "carriers", "tickets", "invoices", "shipments"):
        for tkey, record in ds.records[tname].items():
            best[(tname, tkey)] = distance(record, tkey)
    mine = best.pop((table, key))
    rival = min(best.items(), key=lambda kv: kv[1])
    if rival[1] <= mine:
        raise RuntimeError(f"fuzzy probe {probe!r}: {table}:{key} at {mine} but {rival[0]} at {rival[1]}")


def make_questions(ds: Dataset) -> list[Question]:
    """The labelled questions; every expected set is computed here from `ds` by a predicate."""
    rng = random.Random(f"{SEED}:{ds.size}:questions")
    now, recs = ds.now, ds.records
    out: list[Question] = []

    def ids_where(table: str, pred: Callable[[dict[str, Any]], bool]) -> frozenset[str]:
        return frozenset(r["id"] for r in recs[table].values() if pred(r))

    def into(dst: Iterable[str], kind: str) -> frozenset[str]:
        targets = set(dst)
        return frozenset(s for s, d, t in ds.edges if t == kind and d in targets)

    def out_of(src: Iterable[str], kind: str) -> frozenset[str]:
        sources = set(src)
        return frozenset(d for s, d, t in ds.edges if t == kind and s in sources)

    def ask(
        text: str,
        kind: str,
        stages: list[str],
        expected: Iterable[str],
        top: str,
        why: str,
        also: tuple[tuple[str, ...], ...] = (),
    ) -> None:
        out.append(Question(text, kind, stages, frozenset(expected), top, also, why))

    def one(table: str, key: str) -> frozenset[str]:
        return frozenset([ds.id(table, key)])

    def person(name: str) -> str:
        return next(h for h, p in recs["people"].items() if p["name"] == name)

    tickets, people, invoices, shipments = recs["tickets"], recs["people"], recs["invoices"], recs["shipments"]

    # ---- lookup_exact: a key or a name, typed as people type it
    shp = rng.choice(sorted(shipments))
    inv = rng.choice(sorted(k for k in invoices if k != "INV-2291"))
    sec = rng.choice(sorted(k for k in tickets if not k.startswith(("TAP-", "OPS-"))))
    for text, table, key in [
        ("what is INV-2291?", "invoices", "INV-2291"),
        ("Find TAP-1234", "tickets", "TAP-1234"),
        ("tell me about DHL", "carriers", "DHL"),
        ("show me PRJ-104", "projects", "PRJ-104"),
        (f"What's the status of {shp}?", "shipments", shp),
        ("Who is Priya Raman?", "people", "priya.raman"),
        ("Alicia Johnson", "people", "alicia.johnson"),
        ("look up john smith", "people", "john.smith"),
        ("ops-77", "tickets", "OPS-77"),
        ("Maersk", "carriers", "Maersk"),
        ("project Atlas", "projects", "PRJ-101"),
        (f"pull up invoice {inv}", "invoices", inv),
        ("details for marco.rossi", "people", "marco.rossi"),
        (f"{sec} details", "tickets", sec),
    ]:
        ask(text, "lookup_exact", ["lookup"], one(table, key), "exact", f"{table}.{KEYS[table]} or name = {key}")

    # ---- lookup_fuzzy: typos, missing accents or punctuation, partial names; one intended record
    for text, probe, table, key, also in [
        ("show me Alise", "alise", "people", "alice.johnson", ()),
        ("jon smth", "jon smth", "people", "jon.smith", ()),
        ("Katherine Le", "katherine le", "people", "katherine.lee", ()),
        ("stephen clarke", "stephen clarke", "people", "stephen.clark", ()),
        ("tomas novak", "tomas novak", "people", "tomas.novak", ()),
        ("Jose Garcia's profile", "jose garcia", "people", "jose.garcia", ()),
        ("Sarah Khann", "sarah khann", "people", "sarah.khan", ()),
        ("fedx", "fedx", "carriers", "FedEx", ()),
        ("Kuehne Nagel", "kuehne nagel", "carriers", "Kuehne+Nagel", ()),
        ("look up schenker", "schenker", "carriers", "DB Schenker", ()),
        ("hapag loyd", "hapag loyd", "carriers", "Hapag-Lloyd", ()),
        ("project atlass", "atlass", "projects", "PRJ-101", ()),
        ("tap 1234", "tap 1234", "tickets", "TAP-1234", ()),
        ("inv2291", "inv2291", "invoices", "INV-2291", ()),
        ("the onboarding guide", "", "documents", WIKI + "guides/onboarding", (("search",),)),
    ]:
        if probe:
            _nearest_is(ds, probe, table, key)
        ask(text, "lookup_fuzzy", ["lookup"], one(table, key), "top1", f"nearest record: {table} {key}", also)

    # ---- field_filter: equality / range / membership on one table
    def pick(values: Iterable[str], pred: Callable[[str], bool]) -> str:
        return rng.choice(sorted(v for v in set(values) if pred(v)))

    designer_city = pick(
        (p["city"] for p in people.values()),
        lambda c: any(p["role"] == "designer" and p["city"] == c for p in people.values()),
    )
    engineer_city = pick(
        (p["city"] for p in people.values()),
        lambda c: c != designer_city and sum(p["role"] == "engineer" and p["city"] == c for p in people.values()) >= 2,
    )
    unpaid_customer = pick(
        (i["customer"] for i in invoices.values()),
        lambda c: any(i["customer"] == c and i["status"] != "paid" for i in invoices.values()),
    )
    delayed_origin = pick(
        (s["origin"] for s in shipments.values()),
        lambda o: any(s["origin"] == o and s["status"] == "delayed" for s in shipments.values()),
    )
    transit_dest = pick(
        (s["destination"] for s in shipments.values()),
        lambda d: any(s["destination"] == d and s["status"] == "in_transit" for s in shipments.values()),
    )
    atlas = recs["projects"]["PRJ-101"]["name"]
    overdue_eur = [i for i in invoices.values() if i["status"] == "overdue" and i["currency"] == "EUR"]
    biggest = max(overdue_eur, key=lambda i: i["amount"])
    filters: list[tuple[str, str, Callable[[dict[str, Any]], bool], str, list[str], str]] = [
        (
            "open critical tickets",
            "tickets",
            lambda t: t["status"] == "open" and t["priority"] == "critical",
            "status = open and priority = critical",
            ["filter"],
            "exact",
        ),
        ("overdue invoices", "invoices", lambda i: i["status"] == "overdue", "status = overdue", ["filter"], "exact"),
        (
            "people on the platform team",
            "people",
            lambda p: p["team"] == "platform",
            "team = platform",
            ["filter"],
            "exact",
        ),
        (
            "tickets for project PRJ-104",
            "tickets",
            lambda t: t["project"] == "PRJ-104",
            "project = PRJ-104",
            ["filter"],
            "exact",
        ),
        (
            "Which projects are paused?",
            "projects",
            lambda p: p["status"] == "paused",
            "status = paused",
            ["filter"],
            "exact",
        ),
        (
            f"list the designers in {designer_city}",
            "people",
            lambda p: p["role"] == "designer" and p["city"] == designer_city,
            f"role = designer and city = {designer_city}",
            ["filter"],
            "exact",
        ),
        (
            "invoices over 10,000 EUR",
            "invoices",
            lambda i: i["currency"] == "EUR" and i["amount"] > 10_000,
            "currency = EUR and amount > 10000",
            ["filter"],
            "exact",
        ),
        (
            f"unpaid invoices for {unpaid_customer}",
            "invoices",
            lambda i: i["customer"] == unpaid_customer and i["status"] in ("open", "overdue"),
            f"customer = {unpaid_customer} and status in (open, overdue)",
            ["filter"],
            "exact",
        ),
        ("carriers that do sea freight", "carriers", lambda c: c["mode"] == "sea", "mode = sea", ["filter"], "exact"),
        (
            "high priority tickets that are in progress",
            "tickets",
            lambda t: t["priority"] == "high" and t["status"] == "in_progress",
            "priority = high and status = in_progress",
            ["filter"],
            "exact",
        ),
        (
            f"any delayed shipments from {delayed_origin}?",
            "shipments",
            lambda s: s["status"] == "delayed" and s["origin"] == delayed_origin,
            f"status = delayed and origin = {delayed_origin}",
            ["filter"],
            "exact",
        ),
        (
            "active projects tagged payments",
            "projects",
            lambda p: p["status"] == "active" and "payments" in p["tags"],
            "status = active and tags contains payments",
            ["filter"],
            "exact",
        ),
        (
            "what's our biggest overdue invoice in EUR?",
            "invoices",
            lambda i: i["number"] == biggest["number"],
            "max(amount) where status = overdue and currency = EUR",
            ["filter"],
            "top1",
        ),
        (
            f"engineers based in {engineer_city}",
            "people",
            lambda p: p["role"] == "engineer" and p["city"] == engineer_city,
            f"role = engineer and city = {engineer_city}",
            ["filter"],
            "exact",
        ),
        (
            f"shipments in transit to {transit_dest}",
            "shipments",
            lambda s: s["status"] == "in_transit" and s["destination"] == transit_dest,
            f"status = in_transit and destination = {transit_dest}",
            ["filter"],
            "exact",
        ),
        (
            f"open tickets in the {atlas} project",
            "tickets",
            lambda t: t["project"] == "PRJ-101" and t["status"] == "open",
            f"project = PRJ-101 ({atlas}) and status = open",
            ["lookup", "filter"],
            "exact",
        ),
    ]
    for text, table, pred, why, stages, top in filters:
        ask(text, "field_filter", stages, ids_where(table, pred), top, f"{table}: {why}")

    # ---- time_filter: the windows of the module docstring
    def when(name: str, arg: str | int | None = None) -> Window:
        return window(name, now, arg)

    month = (now.month - 4) % 12 + 1  # three months back: always over, always inside the data
    since = (now.month - 2) % 12 + 1
    since_day = _month_start(now.year - (now.month == 1), since).date().isoformat()
    meetings = recs["meetings"]

    def met(win: Window, pred: Callable[[dict[str, Any]], bool] = lambda m: True) -> frozenset[str]:
        return frozenset(m["id"] for m in meetings.values() if overlaps(m, win) and pred(m))

    times: list[tuple[str, list[str], frozenset[str], str]] = [
        (
            "projects updated this week",
            ["filter"],
            ids_where("projects", lambda p: in_window(p["updated_at"], when("this_week"))),
            "projects.updated_at in this week",
        ),
        (
            "tickets created today",
            ["filter"],
            ids_where("tickets", lambda t: in_window(t["created_at"], when("today"))),
            "tickets.created_at in today",
        ),
        ("meetings last week", ["moments"], met(when("last_week")), "meetings overlapping last week"),
        (
            f"meetings since {since_day}",
            ["moments"],
            met(when("since", since_day)),
            f"meetings overlapping {since_day}..now",
        ),
        (
            f"meetings in {MONTHS[month - 1]}",
            ["moments"],
            met(when("month", month)),
            f"meetings overlapping {MONTHS[month - 1]}",
        ),
        (
            "Invoices issued last month",
            ["filter"],
            ids_where("invoices", lambda i: in_window(i["issued_on"], when("last_month"))),
            "invoices.issued_on in last month",
        ),
        (
            "shipments sent in the last 7 days",
            ["filter"],
            ids_where("shipments", lambda s: in_window(s["shipped_at"], when("last_7_days"))),
            "shipments.shipped_at in now-7d..now",
        ),
        (
            "critical tickets opened this week",
            ["filter"],
            ids_where(
                "tickets", lambda t: t["priority"] == "critical" and in_window(t["created_at"], when("this_week"))
            ),
            "priority = critical and created_at in this week",
        ),
        (
            "any standups yesterday?",
            ["moments"],
            met(when("yesterday"), lambda m: m["moment_type"] == "standup"),
            "moment_type = standup overlapping yesterday",
        ),
        (
            "who joined this month?",
            ["filter"],
            ids_where("people", lambda p: in_window(p["joined"], when("this_month"))),
            "people.joined in this month",
        ),
        (
            "Tickets updated yesterday",
            ["filter"],
            ids_where("tickets", lambda t: in_window(t["updated_at"], when("yesterday"))),
            "tickets.updated_at in yesterday",
        ),
        (
            "delayed shipments last month",
            ["filter"],
            ids_where(
                "shipments", lambda s: s["status"] == "delayed" and in_window(s["shipped_at"], when("last_month"))
            ),
            "status = delayed and shipped_at in last month",
        ),
        ("what meetings were there today", ["moments"], met(when("today")), "meetings overlapping today"),
        (
            "new documents from the last 30 days",
            ["filter"],
            ids_where("documents", lambda d: in_window(d["created_at"], when("last_30_days"))),
            "documents.created_at in now-30d..now",
        ),
        (
            "meetings with Alice Johnson last week",
            ["lookup", "moments"],
            met(when("last_week"), lambda m: "alice.johnson" in m["people"]),
            "meetings overlapping last week with alice.johnson in people",
        ),
    ]
    for text, stages, expected, why in times:
        # the person's meetings are also reachable through their `attended` edges, then cut to the window
        also = (("lookup", "traverse", "filter"),) if stages == ["lookup", "moments"] else ()
        ask(text, "time_filter", stages, expected, "exact", why, also)

    # ---- topical: semantic search; judged on the first 10 rows
    def docs(*modules: str) -> frozenset[str]:
        return frozenset(ds.id("documents", f"https://docs.python.org/3/library/{m}.html") for m in modules)

    def wiki(*slugs: str) -> frozenset[str]:
        return frozenset(ds.id("documents", WIKI + s) for s in slugs)

    def topic(name: str, pred: Callable[[dict[str, Any]], bool] = lambda t: True) -> frozenset[str]:
        return frozenset(t["id"] for t in tickets.values() if ds.labels[t["id"]]["topic"] == name and pred(t))

    ml = frozenset(p["id"] for p in recs["projects"].values() if ds.labels[p["id"]]["theme"] == "ml")
    outage_meetings = met((now - timedelta(days=3650), now), lambda m: m["name"] == "Incident review: checkout outage")
    topical: list[tuple[str, frozenset[str], str]] = [
        ("documents about rate limiting", wiki("design/api-rate-limiting"), "the rate-limiting design note"),
        ("Python docs about reading CSV files", docs("csv"), "csv module"),
        ("how do I parse command-line arguments?", docs("argparse"), "argparse module"),
        (
            "anything on compressing files?",
            docs("gzip", "bz2", "lzma", "zlib", "zipfile", "tarfile", "shutil"),
            "compression modules",
        ),
        ("hashing data with SHA-256", docs("hashlib", "hmac"), "hashlib / hmac"),
        (
            "what happened in the checkout outage?",
            wiki("incidents/checkout-outage") | outage_meetings,
            "the checkout post-mortem (or its incident reviews)",
        ),
        ("sending email from python", docs("smtplib", "email"), "smtplib / email"),
        ("tickets about login problems", topic("auth"), "tickets whose title is an auth/login problem"),
        (
            "open tickets about payment failures",
            topic("payments", lambda t: t["status"] == "open"),
            "open tickets whose title is a payments problem",
        ),
        ("projects involving machine learning", ml, "projects of the ml theme"),
        ("guides for new hires", wiki("guides/onboarding"), "the onboarding guide"),
        (
            "how do we rotate TLS certificates",
            wiki("runbooks/tls-certificate-rotation") | docs("ssl"),
            "the TLS runbook or the ssl module",
        ),
        ("writing unit tests in python", docs("unittest", "doctest"), "unittest / doctest"),
        (
            "running code in parallel threads",
            docs("threading", "concurrent.futures", "queue"),
            "threading / concurrent.futures / queue",
        ),
        (
            "Tickets about slow pages and high latency",
            topic("performance"),
            "tickets whose title is a performance problem",
        ),
        ("regex pattern matching docs", docs("re", "fnmatch"), "re / fnmatch"),
    ]
    for text, expected, why in topical:
        ask(text, "topical", ["search"], expected, "top10", why)

    # ---- graph: a start set, then one hop along typed edges
    def person_id(handle: str) -> str:
        return ds.id("people", handle)

    busy = sorted(h for h in people if len(out_of([person_id(h)], "works_on")) >= 2 and h != "alice.johnson")
    worker = people[rng.choice([h for h in busy if h in {p[0] for p in corpus.FEATURED_PEOPLE}] or busy)]["name"]
    assignee = rng.choice(
        sorted(h for h, _, _, _ in corpus.FEATURED_PEOPLE if out_of([person_id(h)], "assigned") and h != person(worker))
    )
    paused = ids_where("projects", lambda p: p["status"] == "paused")
    dest = pick(
        (s["destination"] for s in shipments.values()),
        lambda d: len({s["carrier"] for s in shipments.values() if s["destination"] == d}) >= 2,
    )
    last_month = when("last_month")
    late = ids_where("shipments", lambda s: s["status"] == "delayed" and in_window(s["shipped_at"], last_month))
    graph: list[tuple[str, list[str], frozenset[str], str, tuple[tuple[str, ...], ...]]] = [
        (
            "who reviewed the payment service code?",
            ["search", "traverse"],
            into(wiki("reviews/payment-service-refunds"), "reviewed"),
            "reviewers of the payment service review",
            (("lookup", "traverse"),),
        ),
        (
            "what did Alice Johnson author?",
            ["lookup", "traverse"],
            out_of([person_id("alice.johnson")], "authored"),
            "documents alice.johnson -authored->",
            (),
        ),
        (
            "who works on PRJ-104?",
            ["lookup", "traverse"],
            into(one("projects", "PRJ-104"), "works_on"),
            "people -works_on-> PRJ-104",
            (),
        ),
        (
            f"tickets assigned to {people[assignee]['name']}",
            ["lookup", "traverse"],
            out_of([person_id(assignee)], "assigned"),
            f"{assignee} -assigned-> tickets",
            (),
        ),
        (
            "which carriers had delayed shipments last month?",
            ["filter", "traverse"],
            out_of(late, "carried_by"),
            "carriers of shipments delayed and shipped last month",
            (),
        ),
        (
            "shipments carried by DHL",
            ["lookup", "traverse"],
            into(one("carriers", "DHL"), "carried_by"),
            "shipments -carried_by-> DHL",
            (("filter",),),
        ),
        (
            "who attended meetings yesterday?",
            ["moments", "traverse"],
            into(met(when("yesterday")), "attended"),
            "people -attended-> meetings overlapping yesterday",
            (),
        ),
        (
            "documents reviewed by Stephen Clark",
            ["lookup", "traverse"],
            out_of([person_id("stephen.clark")], "reviewed"),
            "stephen.clark -reviewed-> documents",
            (),
        ),
        (
            "who wrote the post-mortem on the checkout outage?",
            ["search", "traverse"],
            into(wiki("incidents/checkout-outage"), "authored"),
            "authors of the checkout post-mortem",
            (("lookup", "traverse"),),
        ),
        (
            "people working on paused projects",
            ["filter", "traverse"],
            into(paused, "works_on"),
            "people -works_on-> projects with status paused",
            (),
        ),
        (
            f"which projects is {worker} on?",
            ["lookup", "traverse"],
            out_of([person_id(person(worker))], "works_on"),
            f"{person(worker)} -works_on-> projects",
            (),
        ),
        (
            "Who was assigned TAP-1234?",
            ["lookup", "traverse"],
            into(one("tickets", "TAP-1234"), "assigned"),
            "people -assigned-> TAP-1234",
            (),
        ),
        (
            f"which carriers deliver to {dest}?",
            ["filter", "traverse"],
            out_of(ids_where("shipments", lambda s: s["destination"] == dest), "carried_by"),
            f"carriers of shipments with destination {dest}",
            (),
        ),
        (
            "who authored documents about rate limiting?",
            ["search", "traverse"],
            into(wiki("design/api-rate-limiting"), "authored"),
            "authors of the rate-limiting design note",
            (),
        ),
    ]
    for text, stages, expected, why, also in graph:
        ask(text, "graph", stages, expected, "all_in", why, also)
    return out


# --------------------------------------------------------------------------- CLI
def summary(ds: Dataset) -> str:
    """Table sizes and questions per kind, as markdown."""
    counts = ds.counts()
    lines = [f"now {ds.now.isoformat()}  size {ds.size}", "", "| table | records |", "|---|---|"]
    lines += [f"| {t} | {n:,} |" for t, n in counts.items()]
    lines += [f"| **total** | {sum(counts.values()):,} |", "", f"edges: {dict(Counter(e[2] for e in ds.edges))}", ""]
    lines += ["| kind | questions | expected ids (min / median / max) | judged by |", "|---|---|---|---|"]
    for kind, questions in ds.by_kind().items():
        sizes = sorted(len(q.expected) for q in questions)
        tops = ", ".join(sorted({q.top for q in questions}))
        lines.append(f"| {kind} | {len(questions)} | {sizes[0]} / {sizes[len(sizes) // 2]} / {sizes[-1]} | {tops} |")
    lines.append(f"| **all** | {len(ds.questions)} | | |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--summary", action="store_true", help="print table sizes and questions per kind")
    parser.add_argument("--questions", action="store_true", help="also list every question")
    parser.add_argument("--now", default=None, help="ISO 8601 instant to build at (default: now, UTC)")
    parser.add_argument("--embedder", default=None, help="embedding provider (default: remlite's, the local model)")
    args = parser.parse_args(argv)
    import remlite
    from harness import temp_dir

    now = datetime.fromisoformat(args.now).replace(tzinfo=UTC) if args.now else None
    with temp_dir("remlite-nl-") as root, remlite.connect(root, "nl", embedder=args.embedder) as db:
        started = time.perf_counter()
        ds = build(db, now=now, size=args.size)
        seconds = time.perf_counter() - started
        print(summary(ds))
        print(f"\nbuilt in {seconds:.1f} s")
        if args.questions:
            per: dict[str, list[Question]] = defaultdict(list)
            for q in ds.questions:
                per[q.kind].append(q)
            for kind, questions in per.items():
                print(f"\n## {kind}")
                for q in questions:
                    stages = " -> ".join(q.expected_stages)
                    print(f"- {q.text!r}  [{stages}; {q.top}; {len(q.expected)} ids]  {q.why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
