"""The vector part of `Database.check()`: stored vectors, row labels and HNSW indexes against the rows.

Why the index file is checked by loading a separate copy: the database's own loader trusts a file
only when it is bound to this database and history, then catches it up from the log; checking the
result of exactly that path (without installing it) finds ghost or missing labels a future search
would meet, while leaving the running database's state untouched. A file the loader would not trust
is not a problem: it is rebuilt from the stored vectors on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from remlite import ids as idmod
from remlite.errors import StorageError
from remlite.records import TableLayout
from remlite.schema.model import TableSchema
from remlite.schema.registry import Registry
from remlite.semantic.text import text_of
from remlite.semantic.vectors import FieldVectors
from remlite.storage import codec
from remlite.storage.engine import Store
from remlite.storage.keyspace import ROW_LABEL_TAG
from remlite.storage.wal import WAL

_SHOWN = 20  # problems listed per kind, as in remlite.integrity


def check_vectors(
    store: Store,
    registry: Registry,
    layout_of: Callable[[str], TableLayout],
    vectors_of: Callable[[str], Any],
) -> list[str]:
    """Problems (empty when sound) with every embedding field of every table. `vectors_of(table)` is
    the database's `TableVectors` (`Database._vectors`), so loaded indexes are checked too.

    Per field: every live row whose embedding source has text has a vector (unless the field holds
    precomputed vectors), no vector belongs to a missing or deleted row, every vector has the
    configured dimension and a row-label key naming its row, and the labels of the loaded index and
    of the saved index file (as the loader would serve it) are exactly the live rows' labels."""
    problems: list[str] = []
    wal = WAL(store)
    directory = dict(store.iter_prefix("ids", b""))
    labels = store.iter_prefix("vectors", ROW_LABEL_TAG)
    row_labels = {codec.read_u64(key, len(ROW_LABEL_TAG)): value for key, value in labels}

    def rownum_of(rids: list[bytes]) -> list[int | None]:
        return [codec.read_u64(e, 4) if e is not None else None for e in store.cf["ids"][rids]] if rids else []

    for label, target in sorted(row_labels.items()):
        entry = directory.get(target[4:])
        if entry is None or entry != target[:4] + codec.u64(label):
            problems.append(f"row label {label} names id {idmod.to_str(target[4:])}, which does not hold it")
    for name in registry.names():
        table = registry.get(name)
        if not table.embedding_fields:
            continue
        layout = layout_of(name)
        parts = {field: tuple(field.split(".")) for field in table.embedding_fields}
        live: set[bytes] = set()
        sourced: dict[str, set[bytes]] = {field: set() for field in table.embedding_fields}
        for key, value in store.iter_prefix("rows", layout.tid):
            record = orjson.loads(value)
            if record.get("deleted_at"):
                continue
            rid = key[4:]
            live.add(rid)
            for field, path in parts.items():
                if text_of(record, path):
                    sourced[field].add(rid)
        for field, fv in vectors_of(name).fields.items():
            rows = (layout, live, sourced[field], directory)
            problems += _check_field(store, table, fv, rows, row_labels, wal, rownum_of)
    return problems


def _check_field(
    store: Store,
    table: TableSchema,
    fv: FieldVectors,
    rows: tuple[TableLayout, set[bytes], set[bytes], dict[bytes, bytes]],
    row_labels: dict[int, bytes],
    wal: WAL,
    rownum_of: Callable[[list[bytes]], list[int | None]],
) -> list[str]:
    """`rows`: the table's layout, live ids, live ids whose embedding source has text, id directory."""
    layout, live, sourced, directory = rows
    where = f"{fv.table}.{fv.field}"
    config = fv.config
    if config is None:
        stray = next(store.iter_prefix("vectors", fv.field_prefix), None)
        return [f"{where}: vectors stored but no vector config"] if stray is not None else []
    width = 4 * int(config["dimension"])
    found: dict[str, list[str]] = {}
    expected: set[int] = set()
    stored: set[bytes] = set()
    for key, value in store.iter_prefix("vectors", fv.prefix):
        rid = key[len(fv.prefix) :]
        stored.add(rid)
        shown = idmod.to_str(rid)
        if len(value) != width:
            found.setdefault("dimension", []).append(
                f"{where}: vector of id {shown} has {len(value)} bytes, not {width} (dimension {width // 4})"
            )
        entry = directory.get(rid, b"")
        if rid not in live or entry[:4] != layout.tid:
            found.setdefault("orphan", []).append(f"{where}: vector of id {shown}, which is not a live row")
            continue
        label = codec.read_u64(entry, 4)
        expected.add(label)
        if row_labels.get(label) != layout.tid + rid:
            found.setdefault("label", []).append(f"{where}: id {shown} has no row label key for its label {label}")
    if config.get("provider") != "precomputed":
        for rid in sorted(sourced - stored):
            found.setdefault("missing", []).append(f"{where}: live id {idmod.to_str(rid)} has text but no vector")
    problems = [p for kind in found.values() for p in kind[:_SHOWN]]
    with fv.lock:
        if fv.index is not None:
            index = fv.ensure_index(wal.seq, wal.iter_after, rownum_of)
            problems += _compare_labels(f"{where}: loaded index", index.labels(), expected)
    if fv.path.exists():
        scratch = FieldVectors(store, table, fv.field, fv.directory)  # never installed in the database
        problems += _check_file(scratch, expected, wal, rownum_of, where)
    return problems


def _check_file(
    scratch: FieldVectors,
    expected: set[int],
    wal: WAL,
    rownum_of: Callable[[list[bytes]], list[int | None]],
    where: str,
) -> list[str]:
    """The saved file as the loader would serve it: trusted, loaded, caught up."""
    from remlite.vector import VectorIndex

    try:
        info = VectorIndex.info(scratch.path, scratch.store.cipher)
        if not scratch.trusts(info, wal.seq):
            return []
        scratch.index, scratch.index_seq = VectorIndex.load(scratch.path, info=info)
    except StorageError:
        return []  # torn or corrupt: the loader rebuilds it
    index = scratch.ensure_index(wal.seq, wal.iter_after, rownum_of)
    return _compare_labels(f"{where}: index file {scratch.path.name}", index.labels(), expected)


def _compare_labels(what: str, labels: Any, expected: set[int]) -> list[str]:
    have = set(labels.tolist())
    ghosts, missing = sorted(have - expected), sorted(expected - have)
    return [f"{what} has label {label} of no live row (ghost)" for label in ghosts[:_SHOWN]] + [
        f"{what} lacks label {label} of a live row" for label in missing[:_SHOWN]
    ]
