"""`Database.moments`: time-bounded records found by index range scans, not full scans.

A moment [start_time, end_time] overlaps the window [since, until] when
    start_time <= until  and  (end_time >= since  or  (end_time is null and start_time >= since)).
Both conditions are about start_time once the longest span is known: a moment that overlaps has
start_time >= since - max_span (if it ends at or after `since`, it started at most max_span before).
So the query is one range scan of the start_time index over [since - max_span, until], in
start_time order, followed by the exact test on the fetched records.

`max_span` is a per-table statistic (meta key `moments_max_span:<table_id>`, microseconds): the
longest end_time - start_time ever written to the table, raised in the same WriteBatch as the row
that raises it and never lowered (deletes leave it as an upper bound, which stays correct). One long
moment only widens the lookback; short, frequent moments (meetings, conversations) keep it tight.
A database whose moments were written before the statistic existed gets it computed once, from a
scan of the table. It is kept for every table whose `start_time` and `end_time` are indexed
timestamps (the `moments` template, or a user table shaped like it).

Tag, person and type filters intersect the id sets of the multi-valued `tags` / `people` and the
`moment_type` indexes with the time candidates before any record is read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from remlite.core import on_commit
from remlite.errors import InvalidInput, shown
from remlite.records import TableLayout
from remlite.storage import codec
from remlite.storage.keyspace import count_key, span_key, table_prefix

if TYPE_CHECKING:
    from remlite.core import TenantCore
    from remlite.hooks import Effects, RowChunk, RowDeletion
    from remlite.storage.changelog import Entry

_FETCH = 256
_RELATIVE = re.compile(r"^([+-]?)(\d+)\s*(s|m|min|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_when(value: Any, *, end: bool = False, now: datetime | None = None) -> codec.Timestamp:
    """A point in time from a datetime or text: ISO 8601 (naive means UTC); a date (its start, or
    with `end=True` its last microsecond); `now`, `today`, `yesterday`; or a relative offset such as
    `7d`, `12h`, `30m`, `2w` (that long ago; `+3d` is in the future)."""
    if isinstance(value, datetime):
        return codec.Timestamp.from_datetime(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"not a time: {shown(value)} (use ISO 8601, a date, 'now', or an offset like 7d)")
    text = value.strip().lower()
    current = now or datetime.now(UTC)
    if text == "now":
        return codec.Timestamp.from_datetime(current)
    if text in ("today", "yesterday"):
        day = current.date() - timedelta(days=1 if text == "yesterday" else 0)
        return _day_bound(datetime(day.year, day.month, day.day, tzinfo=UTC), end)
    match = _RELATIVE.match(text)
    if match:
        sign, amount, unit = match.groups()
        try:
            delta = timedelta(**{_UNITS[unit]: int(amount)})
            return codec.Timestamp.from_datetime(current + delta if sign == "+" else current - delta)
        except OverflowError:
            raise InvalidInput(f"offset out of range: {value!r}") from None
    if _DATE.match(text):
        try:
            day_start = datetime.fromisoformat(text).replace(tzinfo=UTC)
        except ValueError:
            raise InvalidInput(f"not a date: {value!r}") from None
        return _day_bound(day_start, end)
    try:
        return codec.Timestamp.parse(value.strip())
    except InvalidInput:
        raise InvalidInput(f"not a time: {value!r} (use ISO 8601, a date, 'now', or an offset like 7d)") from None


def _day_bound(day_start: datetime, end: bool) -> codec.Timestamp:
    start = codec.Timestamp.from_datetime(day_start)
    return codec.Timestamp(start + 86_400_000_000 - 1) if end else start


def parse_between(text: str, now: datetime | None = None) -> tuple[codec.Timestamp, codec.Timestamp]:
    """`A..B` (each side as `parse_when`; a date as B means the whole of that day)."""
    if not isinstance(text, str) or text.count("..") != 1:
        raise InvalidInput(f"--between takes START..END, got {text!r}")
    start, finish = text.split("..")
    return parse_when(start, now=now), parse_when(finish, end=True, now=now)


def _timestamp(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(codec.Timestamp.parse(value)) if isinstance(value, str) else None
    except InvalidInput:
        return None


def span_of(record: dict[str, Any]) -> int:
    start, finish = _timestamp(record.get("start_time")), _timestamp(record.get("end_time"))
    return finish - start if start is not None and finish is not None and finish > start else 0


def _listed(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidInput(f"{name} must be a string or a list of strings, got {shown(value)}")


class Spans:
    """The longest-span statistic of every moments table: read (computed once for old data), kept
    by the write path through `SpanHook`, published to memory by `publish` (a commit listener)
    only once the batch that raised it is written."""

    def __init__(self, core: TenantCore) -> None:
        self.core = core
        self._spans: dict[bytes, int] = {}  # table prefix -> longest span, microseconds
        on_commit(core, self.publish)

    def max_span(self, layout: TableLayout) -> int:
        spans, store = self._spans, self.core.store
        known = spans.get(layout.tid)
        if known is not None:
            return known
        raw = store.cf["meta"].get(span_key(layout.tid))
        if raw is not None:
            spans[layout.tid] = codec.read_u64(raw)
        elif store.cf["meta"].get(count_key(layout.tid)) is None:
            spans[layout.tid] = 0  # never written to: the first write stores the statistic
        else:  # rows from before the statistic existed: compute it once, from every row
            with store.write_lock:
                longest = 0
                for _key, value in store.iter_prefix("rows", layout.tid):
                    longest = max(longest, span_of(orjson.loads(value)))
                store.cf["meta"].put(span_key(layout.tid), codec.u64(longest))
                spans[layout.tid] = longest
        return spans[layout.tid]

    def hook_for(self, layout: TableLayout) -> SpanHook | None:
        return SpanHook(self, layout) if layout.is_moments else None

    def publish(self, entry: Entry, effects: Effects) -> None:
        if effects.spans:
            self._spans.update(effects.spans)

    def reset_ops(self, batch: Any, table_id: int) -> None:
        """Add to `batch` the removal of a table's span statistic (a dropped table, or one whose
        start_time/end_time index comes or goes: rows written without it never raised the span,
        so it is recomputed from the rows when next needed). Then call `forget`."""
        batch.delete(span_key(table_prefix(table_id)), self.core.store.handle["meta"])

    def forget(self, table_id: int) -> None:
        self._spans.pop(table_prefix(table_id), None)


class SpanHook:
    """Raises a moments table's longest span in the batch of the chunk that exceeds it."""

    def __init__(self, spans: Spans, layout: TableLayout) -> None:
        self.spans, self.layout = spans, layout
        self.store = spans.core.store  # not its families: a held handle keeps RocksDB's lock after close

    def write(self, chunk: RowChunk) -> None:
        layout = self.layout
        current = self.spans.max_span(layout)
        longest = max((span_of(b) for b in chunk.bodies), default=0)
        if longest > current or self.store.cf["meta"].get(span_key(layout.tid)) is None:
            chunk.batch.put(span_key(layout.tid), codec.u64(max(longest, current)), self.store.handle["meta"])
            chunk.effects.spans[layout.tid] = max(longest, current)

    def delete(self, deletion: RowDeletion) -> None:
        """A delete leaves the span as an upper bound, which stays correct."""


class Moments:
    """`Database.moments`: live moments overlapping a time window, by index range scans."""

    def __init__(self, core: TenantCore, spans: Spans) -> None:
        self.core = core
        self.spans = spans

    def moments(
        self,
        since: Any = None,
        until: Any = None,
        tags: str | Sequence[str] | None = None,
        people: str | Sequence[str] | None = None,
        moment_type: str | None = None,
        limit: int | None = None,
        *,
        table: str = "moments",
    ) -> list[dict[str, Any]]:
        """Live moments overlapping [since, until] (either may be None: unbounded), in start_time
        order (then id), having every tag in `tags` and every person in `people`, of `moment_type`.
        Times are datetimes or text as `parse_when` reads it (ISO 8601, a date, `7d`, `now`; a date
        as `until` means the end of that day)."""
        layout: TableLayout = self.core.layout(table)
        if not layout.is_moments:
            raise InvalidInput(f"{table} has no indexed start_time and end_time timestamps")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise InvalidInput(f"limit must be >= 0, got {limit!r}")
        low = parse_when(since) if since is not None else None
        high = parse_when(until, end=True) if until is not None else None
        tag_list, person_list = _listed(tags, "tags"), _listed(people, "people")
        if moment_type is not None and not isinstance(moment_type, str):
            raise InvalidInput(f"moment_type must be a string, got {moment_type!r}")
        if limit == 0 or (low is not None and high is not None and low > high):
            return []
        find = self.core.find_raw
        allowed: set[bytes] | None = None
        for field, values in (("tags", tag_list), ("people", person_list), ("moment_type", [moment_type])):
            for value in values:
                if value is None:
                    continue
                ids = set(find(layout, field, {"eq": value}))
                allowed = ids if allowed is None else allowed & ids
                if not allowed:
                    return []
        bounds: dict[str, Any] = {}
        if low is not None:
            bounds["gte"] = codec.Timestamp(low - self.spans.max_span(layout))
        if high is not None:
            bounds["lte"] = high
        candidates = [r for r in find(layout, "start_time", bounds) if allowed is None or r in allowed]
        out: list[dict[str, Any]] = []
        for start in range(0, len(candidates), _FETCH):
            for record in self.core.fetch(layout, candidates[start : start + _FETCH]):
                if _matches(record, low, high, tag_list, person_list, moment_type):
                    out.append(record)
                    if limit is not None and len(out) >= limit:
                        return out
        return out


def _matches(
    record: dict[str, Any],
    low: int | None,
    high: int | None,
    tags: list[str],
    people: list[str],
    moment_type: str | None,
) -> bool:
    start, finish = _timestamp(record.get("start_time")), _timestamp(record.get("end_time"))
    if start is None:
        return False
    if high is not None and start > high:
        return False
    if low is not None and not (finish >= low if finish is not None else start >= low):
        return False
    if moment_type is not None and record.get("moment_type") != moment_type:
        return False
    have_tags, have_people = record.get("tags") or [], record.get("people") or []
    return all(t in have_tags for t in tags) and all(p in have_people for p in people)
