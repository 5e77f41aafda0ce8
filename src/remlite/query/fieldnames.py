"""The top-level field names found in a table's stored rows, for checking the names a query uses.

A table whose schema allows undeclared fields may still be queried by them (`SELECT extra FROM t`
where rows carry `extra`), so an undeclared name is only an error when no stored row has it —
then it is a typo (`categroy`), a wrong case (`Name`) or a string written in double quotes, and the
error suggests the nearest known name. The names of a table are read by one scan the first time a
query needs them, then kept current by a commit listener (names only ever added: a name a deleted
row held stays readable, as NULL).
"""

from __future__ import annotations

import difflib
import threading
from typing import TYPE_CHECKING, Any

import orjson

from remlite.storage.changelog import RowsPut, SchemaDropped, SchemaPut
from remlite.storage.keyspace import table_prefix

if TYPE_CHECKING:
    from remlite.core import TenantCore
    from remlite.hooks import Effects
    from remlite.storage.changelog import Entry


class StoredFields:
    def __init__(self, core: TenantCore) -> None:
        self.core = core
        self._known: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def of(self, table: str) -> set[str]:
        """Every top-level field name of the table's stored rows (soft-deleted ones included)."""
        known = self._known.get(table)
        if known is not None:
            return known
        with self._lock:
            known = self._known.get(table)
            if known is None:
                # registered before the scan, so that a commit during it adds its names here too
                known = self._known[table] = set()
                tid = table_prefix(self.core.registry.get(table).table_id)
                loads = orjson.loads
                for _key, value in self.core.store.iter_prefix("rows", tid):
                    known.update(loads(value))
        return known

    def on_commit(self, entry: Entry, effects: Effects) -> None:
        """The commit listener: names of new rows join their table's set (when it is known)."""
        if isinstance(entry, RowsPut):
            known = self._known.get(entry.table)
            if known is not None:
                for row in entry.rows:
                    known.update(row)
        elif isinstance(entry, (SchemaPut, SchemaDropped)):
            self._known.pop(entry.table, None)


def suggestion(name: str, candidates: Any) -> str:
    """ " (did you mean x?)" for the nearest candidate, or ""."""
    options = sorted(set(candidates))
    lower = {c.lower(): c for c in options}
    if name.lower() in lower:
        return f" (did you mean {lower[name.lower()]}?)"
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""
