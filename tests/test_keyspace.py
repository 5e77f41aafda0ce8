"""The key space module: its builders produce the documented bytes (existing databases depend on
every one of them), every column family is documented with a class, and no other module keeps a
meta key of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import remlite
from remlite import ids as idmod
from remlite.storage import codec, engine, keyspace
from remlite.storage.keyspace import COLUMN_FAMILIES, SHAPES

SRC = Path(remlite.__file__).parent
TID = b"\x00\x00\x00\x07"  # table id 7
RID = bytes(range(16))
OTHER = bytes(range(16, 32))


def test_fixed_meta_keys_are_the_stored_bytes() -> None:
    assert keyspace.FORMAT_KEY == b"format_version"
    assert keyspace.INITIALISED_KEY == b"initialised"
    assert keyspace.FLOOR_KEY == b"wal_floor"
    assert keyspace.DATABASE_ID_KEY == b"database_id"
    assert keyspace.NEXT_ROWNUM_KEY == b"next_rownum"
    assert keyspace.NEXT_TABLE_KEY == b"next_table_id"


def test_meta_builders() -> None:
    assert keyspace.schema_key("tasks") == b"schema:tasks"
    assert keyspace.schema_key("ü") == b"schema:\xc3\xbc"
    assert keyspace.count_key(TID) == b"count:\x00\x00\x00\x07"
    assert keyspace.span_key(TID) == b"moments_max_span:\x00\x00\x00\x07"
    assert keyspace.upgrade_key(TID) == b"upgrading:\x00\x00\x00\x07"
    assert keyspace.fuzzy_marker_key(TID) == b"fuzzy:\x00\x00\x00\x07"


def test_table_builders() -> None:
    assert keyspace.table_prefix(7) == TID
    assert keyspace.table_prefix(0x01020304) == b"\x01\x02\x03\x04"
    assert keyspace.row_key(TID, RID) == TID + RID
    assert keyspace.id_value(TID, 258) == TID + b"\x00\x00\x00\x00\x00\x00\x01\x02"
    assert keyspace.lookup_key("ab", TID, RID) == b"\x06ab\x00\x00" + TID + RID
    assert keyspace.index_prefix(TID, 3) == TID + b"\x00\x03"
    assert keyspace.index_key(TID, 3, "a\x00b", RID) == TID + b"\x00\x03" + b"\x06a\x00\xffb\x00\x00" + RID
    assert keyspace.index_key(TID, 3, None, RID) == TID + b"\x00\x03\x01" + RID
    assert keyspace.wal_key(5) == b"\x00\x00\x00\x00\x00\x00\x00\x05"


def test_vector_text_and_edge_builders() -> None:
    assert keyspace.vector_field_prefix(TID, "emb") == b"v" + TID + b"\x06emb\x00\x00"
    assert keyspace.vector_prefix(TID, "emb", 2) == b"v" + TID + b"\x06emb\x00\x00" + b"\x00\x00\x00\x02"
    assert keyspace.vector_config_key(TID, "emb") == b"c" + TID + b"\x06emb\x00\x00"
    assert keyspace.row_label_key(9) == b"r\x00\x00\x00\x00\x00\x00\x00\x09"
    assert keyspace.text_prefix(TID, 0x0102) == TID + b"\x01\x02"
    assert keyspace.posting_key(TID, 1, "refund", RID) == TID + b"\x00\x01refund\x00" + RID
    assert keyspace.edge_key(RID, b"\x06knows\x00\x00", OTHER) == RID + b"\x06knows\x00\x00" + OTHER
    assert keyspace.gram_prefix(" al") == b" al\x00"
    assert keyspace.fuzzy_key("ali", 258, 5) == b"ali\x00" + b"\x00\x00\x00\x00\x00\x00\x01\x02" + b"\x05"
    assert keyspace.fuzzy_key("ö1 ", 1, 300) == b"\xc3\xb61 \x00" + b"\x00\x00\x00\x00\x00\x00\x00\x01" + b"\xff"
    assert keyspace.fuzzy_row_key(258) == b"\x01\x00\x00\x00\x00\x00\x00\x01\x02"


def _documented_shapes() -> set[tuple[str, str, str]]:
    """(family, key, class) of every row of the layout table in keyspace's docstring."""
    lines = (keyspace.__doc__ or "").splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:4] == ["family", "key", "value", "class"])
    width = lines[start].index("key")
    rows, family = set(), ""
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        family = line[:width].strip() or family
        rows.add((family, re.split(r"\s{2,}", line[width:].strip())[0], line.split()[-1]))
    return rows


def test_every_family_is_documented_with_a_class() -> None:
    assert engine.COLUMN_FAMILIES is COLUMN_FAMILIES  # the store opens exactly these
    assert {shape.family for shape in SHAPES} == set(COLUMN_FAMILIES)
    assert all(shape.kind in ("LOGGED", "DERIVED", "LOCAL") for shape in SHAPES)
    assert _documented_shapes() == {(shape.family, shape.key, shape.kind) for shape in SHAPES}


def test_a_database_writes_the_shapes_the_builders_name(tmp_path: Path) -> None:
    """The write path concatenates keys inline (for speed): they must equal the builders' bytes."""
    db = remlite.connect(tmp_path / "db")
    try:
        db.register_schema(
            {
                "name": "notes",
                "properties": {"title": {"type": "string"}, "score": {"type": "number"}},
                "indexed_fields": ["score"],
                "key_field": "title",
            }
        )
        rid = idmod.to_bytes(db.insert("notes", {"title": "a", "score": 1}))
        store = db._core.store
        tid = keyspace.table_prefix(db._core.registry.get("notes").table_id)
        field_id = db._core.registry.get("notes").field_ids["score"]
        meta = store.cf["meta"]
        assert meta.get(keyspace.schema_key("notes")) is not None
        assert codec.read_u64(meta.get(keyspace.count_key(tid))) == 1
        assert meta.get(keyspace.INITIALISED_KEY) == b"1"
        assert meta.get(keyspace.FORMAT_KEY) == b"1"
        assert store.cf["rows"].get(keyspace.row_key(tid, rid)) is not None
        assert store.cf["ids"].get(rid)[:4] == tid
        assert store.cf["index"].get(keyspace.index_key(tid, field_id, 1, rid)) == b""
        assert store.cf["wal"].get(keyspace.wal_key(db._core.wal.seq)) is not None
        assert meta.get(keyspace.fuzzy_marker_key(tid)) == b"1"
        rownum = codec.read_u64(store.cf["ids"].get(rid), 4)
        assert store.cf["fuzzy"].get(keyspace.fuzzy_key(" a ", rownum, 1)) == b""
        assert store.cf["fuzzy"].get(keyspace.fuzzy_row_key(rownum)) == tid + rid
    finally:
        db.close()


# A module-level constant holding a meta-style key: lowercase words, optionally ending in ':'.
_META_CONSTANT = re.compile(r'^_?[A-Z][A-Z0-9_]*(?:: [\w\[\]]+)? = b"[a-z][a-z0-9_]*:?"', re.MULTILINE)


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_outside_keyspace_defines_a_key_of_its_own(path: Path) -> None:
    if path.name == "keyspace.py" and path.parent.name == "storage":
        return
    found = _META_CONSTANT.findall(path.read_text())
    assert not found, f"{path.relative_to(SRC)} defines {found}: name it in remlite.storage.keyspace"


def test_the_grep_sees_a_meta_key_constant() -> None:
    assert _META_CONSTANT.search('COUNT_PREFIX = b"count:"\n')
    assert _META_CONSTANT.search('_FORMAT_KEY = b"format_version"\n')
    assert not _META_CONSTANT.search('MAGIC = b"REMVEC\\x00\\x01"\n')
