"""Index access plans as data: how the ids a WHERE clause can match are read, decided before any I/O.

`CandidatePlanner.plan()` turns the sargable part of a WHERE into a tree of these steps; the
executors below walk it. Planning reads nothing, so EXPLAIN costs nothing, and the same tree can be
run three ways:
    `materialize` — the id set (what a sort, a join or DuckDB needs), with a cap per index scan;
    `stream`      — ids one by one in ascending id order, for LIMIT without ORDER BY: an equality
                    scan of an index yields its ids in id order (index keys are value ‖ id), so
                    an AND of equalities is a merge intersection and an OR / IN a merge union, and
                    `LIMIT 10` reads a few hundred index keys instead of every matching id;
    `count`       — how many ids, without reading a row (COUNT(*) answered by the indexes).

A `PointGet` is the id (or natural key) equality: the row's key is computed, nothing is scanned.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

# (field, bounds) -> ids: the whole set (materialize), or an iterator in index order (stream)
Finder = Callable[[str, dict[str, Any]], set[bytes]]
Streamer = Callable[[str, dict[str, Any]], Iterator[bytes]]


@dataclass(frozen=True)
class IndexScan:
    """A range scan of one secondary index: `bounds` are (op, value) pairs, op one of eq, gt, gte,
    lt, lte (the keywords of `Database.find`)."""

    field: str
    bounds: tuple[tuple[str, Any], ...]

    @property
    def by_id(self) -> bool:
        """Its ids come in ascending id order (one equality: every key shares the value prefix)."""
        return len(self.bounds) == 1 and self.bounds[0][0] == "eq"

    def describe(self) -> str:
        return f"index {self.field} ({', '.join(f'{k}={v!r}' for k, v in self.bounds)})"


@dataclass(frozen=True)
class PointGet:
    """Rows read by their ids: `id = ?` / `id IN (...)`, or a natural key (`what` names the field;
    the id is computed from the key). No ids: a comparison that is never true (`= NULL`)."""

    ids: tuple[bytes, ...]
    what: str

    by_id = True

    def describe(self) -> str:
        return f"point get by {self.what} ({len(self.ids)} id{'s' if len(self.ids) != 1 else ''})"


@dataclass(frozen=True)
class AllOf:
    """Ids in every part (AND)."""

    parts: tuple[Access, ...]

    @property
    def by_id(self) -> bool:
        return all(part.by_id for part in self.parts)

    def describe(self) -> str:
        return "intersect"


@dataclass(frozen=True)
class AnyOf:
    """Ids in any part (OR, IN)."""

    parts: tuple[Access, ...]

    @property
    def by_id(self) -> bool:
        return all(part.by_id for part in self.parts)

    def describe(self) -> str:
        return "union"


Access = IndexScan | PointGet | AllOf | AnyOf


def lines(access: Access, table: str, depth: int = 0) -> list[str]:
    """The tree as EXPLAIN prints it, one step per line (indented under intersect / union)."""
    out = ["  " * depth + _described(access, table)]
    if isinstance(access, (AllOf, AnyOf)):
        for part in access.parts:
            out += lines(part, table, depth + 1)
    return out


def _described(access: Access, table: str) -> str:
    return access.describe().replace("index ", f"index {table}.", 1)


def has_point(access: Access) -> bool:
    """Whether a point get is in the tree (its ids may not exist: only a fetched row tells)."""
    if isinstance(access, PointGet):
        return True
    return isinstance(access, (AllOf, AnyOf)) and any(has_point(part) for part in access.parts)


def as_data(access: Access) -> dict[str, Any]:
    """The tree as JSON-able data (what `explain(format="json")` shows)."""
    if isinstance(access, IndexScan):
        return {"index": access.field, "bounds": {op: value for op, value in access.bounds}}
    if isinstance(access, PointGet):
        return {"point_get": access.what, "ids": len(access.ids)}
    kind = "all_of" if isinstance(access, AllOf) else "any_of"
    return {kind: [as_data(part) for part in access.parts]}


class Materialized:
    """The result of `materialize`: the ids (None: the indexes narrow nothing), whether they are
    exactly the matching rows, and what each step found (for EXPLAIN)."""

    def __init__(self) -> None:
        self.exact = True
        self.steps: list[str] = []


def materialize(
    access: Access, find: Finder, table: str, cap: int | None = None
) -> tuple[set[bytes] | None, Materialized]:
    """The id set of `access`. An index scan finding more than `cap` ids narrows nothing (it is
    dropped from an intersection, and fails a union): the result is then not exact."""
    done = Materialized()
    return _materialize(access, find, table, cap, done), done


def _materialize(access: Access, find: Finder, table: str, cap: int | None, done: Materialized) -> set[bytes] | None:
    if isinstance(access, PointGet):
        done.steps.append(f"{access.describe()} -> {len(access.ids)} ids")
        return set(access.ids)
    if isinstance(access, IndexScan):
        bounds = dict(access.bounds)
        found = find(access.field, bounds if cap is None else {**bounds, "limit": cap + 1})
        text = _described(access, table)
        if cap is not None and len(found) > cap:
            done.steps.append(f"{text} -> over {cap} ids, not used")
            done.exact = False
            return None
        done.steps.append(f"{text} -> {len(found)} ids")
        return found
    parts = [_materialize(part, find, table, cap, done) for part in access.parts]
    if isinstance(access, AllOf):
        known = [part for part in parts if part is not None]
        if not known:
            return None
        known.sort(key=len)
        out = set(known[0])
        for part in known[1:]:
            out &= part
        return out
    if any(part is None for part in parts):
        return None
    return set().union(*parts)  # type: ignore[arg-type]


def stream(access: Access, scan: Streamer) -> Iterator[bytes]:
    """The ids of `access` in ascending id order, each once. Only for trees whose leaves are all
    `by_id` (equalities and point gets)."""
    if not access.by_id:
        raise ValueError("stream() needs a tree of equalities and point gets")
    if isinstance(access, PointGet):
        return iter(sorted(set(access.ids)))
    if isinstance(access, IndexScan):
        return scan(access.field, dict(access.bounds))
    streams = [stream(part, scan) for part in access.parts]
    if isinstance(access, AllOf):
        return _intersect(streams)
    return _union(streams)


def _union(streams: list[Iterator[bytes]]) -> Iterator[bytes]:
    last = None
    for rid in heapq.merge(*streams):
        if rid != last:
            yield rid
            last = rid


def _intersect(streams: list[Iterator[bytes]]) -> Iterator[bytes]:
    """Merge intersection of ascending id streams: each advances to the largest head seen."""
    heads: list[bytes] = []
    for it in streams:
        head = next(it, None)
        if head is None:
            return
        heads.append(head)
    while True:
        top = max(heads)
        for i, it in enumerate(streams):
            while heads[i] < top:
                head = next(it, None)
                if head is None:
                    return
                heads[i] = head
        if all(head == top for head in heads):
            yield top
            for i, it in enumerate(streams):
                head = next(it, None)
                if head is None:
                    return
                heads[i] = head


def count(access: Access, scan: Streamer, find: Finder, limit: int | None = None) -> int | None:
    """How many ids `access` holds, reading index keys only; None once more than `limit` (a
    bounded probe: past it, counting keys costs more than the column cache would)."""
    if access.by_id:
        ids = stream(access, scan)
        if limit is None:
            return sum(1 for _ in ids)
        found = sum(1 for _ in islice(ids, limit + 1))
        return found if found <= limit else None
    found_ids, done = materialize(access, find, "", limit)
    if found_ids is None or not done.exact or (limit is not None and len(found_ids) > limit):
        return None  # an index the cap dropped left a superset: the caller counts another way
    return len(found_ids)
