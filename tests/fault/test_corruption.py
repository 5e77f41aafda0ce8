"""Damaged files on disk: flipped bytes in RocksDB table files, a missing CURRENT, and corrupted,
truncated, stale or foreign vector-index files.

Table files: every read API either answers exactly what was written or raises StorageError — never
a short or wrong answer — and `check()` does not call a database ok after a read found it damaged.
Vector-index files are derived: whatever happened to them, search answers from the stored vectors.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import remlite
from remlite import errors
from tests.fault import schemas as s
from tests.fault.harness import SEED, assert_intact, assert_search_exact, count, file_state, rng_for

BIG = {
    "name": "big",
    "properties": {"key": {"type": "string"}, "grp": {"type": "integer"}, "pad": {"type": "string"}},
    "key_field": "key",
    "indexed_fields": ["grp"],
}
BIG_ROWS = 20_000
TRIALS = 24
QUERIES = ["river stone cloud", "copper lantern meadow signal", "zephyr"]


def big_row(i: int) -> dict[str, Any]:
    return {"key": f"k{i:05d}", "grp": i % 17, "pad": f"row {i} " + "x" * (i % 40)}


def compact(db: remlite.Database) -> None:
    """Everything into table files (so a flipped byte lands in data, not in a log RocksDB replays)."""
    for name in db._core.store.cf:
        family = db._core.store.cf[name]
        family.flush()
        family.compact_range(None, None)


def answers(db: remlite.Database, ids: list[str]) -> dict[str, Any]:
    """What every read API says, each as a value or the exception it raised."""
    sample = ids[::397]
    calls: dict[str, Callable[[], Any]] = {
        "get": lambda: [db.get(rid) for rid in sample],
        "get_batch": lambda: db.get_batch(sample),
        "scan": lambda: list(db.scan("big")),
        "count": lambda: db.count("big"),
        "sql count": lambda: db.sql("SELECT COUNT(*) AS n FROM big").rows,
        "sql group": lambda: db.sql("SELECT grp, COUNT(*) AS n FROM big GROUP BY grp ORDER BY grp").rows,
        "find": lambda: db.find("big", "grp", eq=5),
        "find range": lambda: db.find("big", "grp", gte=3, lt=6, fetch=True),
        "lookup": lambda: [db.lookup(f"k{i:05d}") for i in range(0, BIG_ROWS, 1999)],
        "wal": lambda: db.wal(None, 1_000_000),
        "search": lambda: [db.search("docs", q, k=10) for q in QUERIES],
        "text search": lambda: [db.search("docs", q, k=10, mode="text") for q in QUERIES],
        "edges": lambda: db.edges(sample[0], "both"),
    }
    out: dict[str, Any] = {}
    for name, call in calls.items():
        try:
            out[name] = call()
        except Exception as exc:  # judged by the caller: only StorageError is acceptable
            out[name] = exc
    return out


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], dict[str, Any]]:
    """A compacted database of 20k rows plus embedded docs and edges, and its true answers."""
    root = tmp_path_factory.mktemp("pristine")
    with remlite.connect(root, embedder="hash") as db:
        db.register_schema(BIG)
        db.register_schema(s.DOCS)
        ids = db.insert_batch("big", [big_row(i) for i in range(BIG_ROWS)])
        db.insert_batch("docs", [s.doc_row(i) for i in range(s.DOCS_ROWS)])
        db.add_edges([(ids[i], ids[i + 1], "next") for i in range(0, BIG_ROWS, 397)])
        compact(db)
        truth = answers(db, ids)
    assert not [k for k, v in truth.items() if isinstance(v, Exception)], truth
    return root, ids, truth


def _flip(path: Path, rng: Any, flips: int) -> list[int]:
    data = bytearray(path.read_bytes())
    positions = sorted(rng.randrange(len(data)) for _ in range(flips))
    for pos in positions:
        data[pos] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))
    return positions


def test_flipped_bytes_in_table_files_never_give_a_wrong_answer(
    pristine: tuple[Path, list[str], dict[str, Any]], tmp_path: Path
) -> None:
    source, ids, truth = pristine
    rng = rng_for("sst")
    detected_by_reads = 0
    for trial in range(TRIALS):
        root = tmp_path / f"t{trial}"
        shutil.copytree(source, root)
        tables = sorted((root / "default").glob("*.sst"))
        weights = [p.stat().st_size for p in tables]
        victim = rng.choices(tables, weights=weights)[0]
        positions = _flip(victim, rng, rng.choice((1, 3, 16)))
        count("corruptions")
        ctx = f"REMLITE_FAULT_SEED={SEED} trial {trial}: flipped {victim.name} at {positions}"
        try:
            db = remlite.connect(root, embedder="hash")
        except errors.StorageError:
            continue  # refusing to open a damaged database is a correct answer
        except Exception as exc:
            pytest.fail(f"{ctx}: connect raised {type(exc).__name__}: {exc}")
        try:
            got = answers(db, ids)
            raised = []
            for name, value in got.items():
                if isinstance(value, Exception):
                    assert isinstance(value, errors.StorageError), (
                        f"{ctx}: {name} raised {type(value).__name__}: {value}"
                    )
                    raised.append(name)
                else:
                    assert value == truth[name], f"{ctx}: {name} answered wrong data silently"
            detected_by_reads += bool(raised)
            try:
                report = db.check()
            except errors.StorageError:
                continue
            except Exception as exc:
                pytest.fail(f"{ctx}: check() raised {type(exc).__name__}: {exc}")
            assert not (raised and report["ok"]), f"{ctx}: reads {raised} hit corruption but check() says ok"
        finally:
            with contextlib.suppress(errors.StorageError):
                db.close()
    assert detected_by_reads or TRIALS < 3, f"REMLITE_FAULT_SEED={SEED}: no trial corrupted anything readable"


def test_missing_current_refuses_to_open_and_deletes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "db"
    with remlite.connect(root) as db:
        db.register_schema(BIG)
        db.insert_batch("big", [big_row(i) for i in range(2000)])
        compact(db)
    directory = root / "default"
    (directory / "CURRENT").unlink()
    count("corruptions")
    before = {k: v for k, v in file_state(directory).items() if not k.startswith("LOG")}
    with pytest.raises(errors.StorageError):
        remlite.connect(root)
    after = {k: v for k, v in file_state(directory).items() if not k.startswith("LOG")}
    assert after == before, f"files changed: removed {set(before) - set(after)}, added {set(after) - set(before)}"
    with pytest.raises(errors.StorageError):  # and the second attempt too (the first left nothing behind)
        remlite.connect(root)


@pytest.mark.parametrize("damage", ["garbage CURRENT", "missing MANIFEST", "empty CURRENT"])
def test_damaged_manifest_chain_refuses_to_open(tmp_path: Path, damage: str) -> None:
    root = tmp_path / "db"
    with remlite.connect(root) as db:
        db.register_schema(BIG)
        db.insert_batch("big", [big_row(i) for i in range(500)])
    directory = root / "default"
    if damage == "garbage CURRENT":
        (directory / "CURRENT").write_bytes(b"\x00\x17garbage\n")
    elif damage == "empty CURRENT":
        (directory / "CURRENT").write_bytes(b"")
    else:
        (directory / (directory / "CURRENT").read_text().strip()).unlink()
    count("corruptions")
    before = {k: v for k, v in file_state(directory).items() if not k.startswith("LOG")}
    with pytest.raises(errors.StorageError):
        remlite.connect(root)
    after = {k: v for k, v in file_state(directory).items() if not k.startswith("LOG")}
    assert set(before) <= set(after) and all(after[k] == v for k, v in before.items()), "files were changed"


# ---------------------------------------------------------------------------------------- vector index files
def _docs_db(root: Path, rows: range, tag: str = "d") -> None:
    with remlite.connect(root, embedder="hash") as db:
        db.register_schema(s.DOCS)
        db.insert_batch("docs", [s.doc_row(i, tag) for i in rows])
        db.search("docs", "river", k=1)  # loads the index, so close saves it


def _index_file(root: Path) -> Path:
    files = sorted((root / "default" / "vectors").glob("*.hnsw"))
    assert len(files) == 1, files
    return files[0]


def _assert_searches_right(root: Path, context: str) -> None:
    with remlite.connect(root, embedder="hash") as db:
        assert_search_exact(db, "docs", "body", [*QUERIES, s.body(3), s.body(11)], 10, context)
        assert_intact(db, context)


def test_corrupted_or_truncated_index_files_are_rebuilt(tmp_path: Path) -> None:
    source = tmp_path / "src"
    _docs_db(source, range(s.DOCS_ROWS))
    size = _index_file(source).stat().st_size
    rng = rng_for("hnsw")
    for trial in range(8):
        root = tmp_path / f"t{trial}"
        shutil.copytree(source, root)
        path = _index_file(root)
        if trial % 2:
            cut = rng.randrange(size)
            with open(path, "r+b") as fh:
                fh.truncate(cut)
            what = f"truncated to {cut}"
        else:
            what = f"flipped at {_flip(path, rng, rng.choice((1, 4)))}"
        count("corruptions")
        _assert_searches_right(root, f"REMLITE_FAULT_SEED={SEED} index file {what}")
    root = tmp_path / "gone"
    shutil.copytree(source, root)
    _index_file(root).unlink()
    _assert_searches_right(root, "index file deleted")


def test_stale_index_file_is_caught_up(tmp_path: Path) -> None:
    """An older copy of the index file (a restored backup, a failed save): the change log since
    its seq brings it up to date, including deletes and re-written bodies."""
    root = tmp_path / "db"
    _docs_db(root, range(400))
    old = _index_file(root).read_bytes()
    with remlite.connect(root, embedder="hash") as db:
        db.insert_batch("docs", [s.doc_row(i) for i in range(400, 700)])
        ids = db.find("docs", "grp", eq=1)
        for rid in ids[:20]:
            db.delete(rid, hard=True)
        for rid in ids[20:40]:
            db.delete(rid)
        for rid in db.find("docs", "grp", eq=2)[:30]:
            db.update(rid, {"body": "zephyr zephyr walnut"})
        db.search("docs", "river", k=1)
    _index_file(root).write_bytes(old)
    count("corruptions")
    _assert_searches_right(root, "older index file")


def test_stale_index_file_older_than_the_truncated_log_is_rebuilt(tmp_path: Path) -> None:
    root = tmp_path / "db"
    _docs_db(root, range(400))
    old = _index_file(root).read_bytes()
    with remlite.connect(root, embedder="hash") as db:
        db.insert_batch("docs", [s.doc_row(i) for i in range(400, 700)])
        for rid in db.find("docs", "grp", eq=4)[:25]:
            db.delete(rid, hard=True)
        db.truncate_wal(keep=1)
    _index_file(root).write_bytes(old)
    count("corruptions")
    _assert_searches_right(root, "index file older than the truncated change log")


@pytest.mark.parametrize("other_size", [200, 790])
def test_index_file_of_another_database_is_not_used(tmp_path: Path, other_size: int) -> None:
    """Same table id, same field, same file name, a lower seq: only the contents say it is foreign."""
    mine, other = tmp_path / "mine", tmp_path / "other"
    _docs_db(mine, range(400))
    with remlite.connect(mine, embedder="hash") as db:
        for start in range(400, s.DOCS_ROWS, 100):  # more writes than the other: its seq is lower
            db.insert_batch("docs", [s.doc_row(i) for i in range(start, start + 100)])
        db.search("docs", "river", k=1)
    _docs_db(other, range(other_size), tag="o")
    foreign = _index_file(other)
    assert foreign.name == _index_file(mine).name
    shutil.copyfile(foreign, _index_file(mine))
    count("corruptions")
    _assert_searches_right(mine, f"index file copied from another database ({other_size} rows)")
