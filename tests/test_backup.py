"""Backup and restore (`remlite.ops.backup`).

The bar: a backup taken while other threads write restores to the state of some prefix of the
change log. A writer thread inserts, updates, soft- and hard-deletes and adds edges while backups
run; each restored database, at its seq S, must equal a fresh database that applied the source's
entries 1..S — rows (deleted ones too), counts, index and lookup results, edges, moments, vector
and text search, `check()` and the state digest. Corruption, an incomplete backup, an existing
target and another tenant name are refused with the target left untouched.
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import remlite
from remlite.cli.app import app
from remlite.errors import BackupCorrupt, InvalidInput, ReadOnly
from remlite.ops.backup import MANIFEST, backup_to_stream, restore_from_stream
from remlite.ops.digest import state_digest
from remlite.storage.changelog import Entry
from remlite.vector import VectorIndex
from tests.test_changelog_replay import DOCS, WORDS, _state

runner = CliRunner(env={"REMLITE_PATH": None, "REMLITE_TENANT": None})


def _open(root: Path, tenant: str = "default") -> remlite.Database:
    return remlite.connect(root, tenant, embedder="hash")


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))


def _seed(db: remlite.Database, n: int = 60) -> None:
    """Rows, a search (so the vector index is loaded), then saved index files on close."""
    rng = random.Random(7)
    db.register_schema(DOCS)
    db.insert_batch(
        "docs", [{"title": f"t{i}", "body": _text(rng), "kind": rng.choice("abc"), "rank": i % 10} for i in range(n)]
    )
    db.search("docs", "alpha", k=3)


def _writer(db: remlite.Database, stop: threading.Event, errors: list[BaseException]) -> None:
    rng = random.Random(11)
    i = 0
    try:
        while not stop.is_set():
            i += 1
            op = rng.random()
            live = [r["id"] for r in db.scan("docs", limit=200)]
            if op < 0.4 or len(live) < 5:
                db.insert("docs", {"title": f"w{rng.randint(0, 300)}", "body": _text(rng), "kind": rng.choice("abc")})
            elif op < 0.6:
                db.update(rng.choice(live), {"body": _text(rng), "rank": rng.randint(0, 9)})
            elif op < 0.7:
                db.delete(rng.choice(live))
            elif op < 0.8:
                db.delete(rng.choice(live), hard=True)
            elif op < 0.9:
                a, b = rng.sample(live, 2)
                db.add_edge(a, b, rng.choice(["cites", "near"]), {"i": i})
            else:
                db.insert_batch("docs", [{"title": f"b{i}-{j}", "body": _text(rng), "kind": "c"} for j in range(5)])
    except BaseException as exc:  # reported by the test
        errors.append(exc)


def _replay_to(source: remlite.Database, target: remlite.Database, last: int) -> None:
    """Apply the source's entries 1..last to `target` (through bytes, as a replica gets them)."""
    after = 0
    while after < last:
        entries = [e for e in source.changes(after, 50) if e.seq <= last]
        if not entries:
            break
        target.apply([Entry.from_bytes(e.to_bytes()) for e in entries])
        after = entries[-1].seq
    assert target.last_seq == last


def _comparable(db: remlite.Database) -> dict[str, Any]:
    """`_state` without its top-5 searches: rows of equal score come in the order of their local
    row numbers, which a replay assigns anew (`_scores` compares the searches instead)."""
    return {k: v for k, v in _state(db).items() if not k.startswith(("vector:", "text:"))}


def _scores(db: remlite.Database) -> dict[str, dict[str, float]]:
    """Vector and text search over every row (k above any row count the writer reaches: at the boundary
    of a top k, rows of equal score may come in either order): {query: {id: score}} (compared with a tolerance: an
    exact scan sums in an order that depends on the index's layout, ~1e-7 apart)."""
    return {
        f"{mode}:{word}": {r["id"]: r["_score"] for r in db.search("docs", word, k=10_000, mode=mode)}
        for word in WORDS[:4]
        for mode in ("vector", "text")
    }


def _same_scores(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> None:
    assert a.keys() == b.keys()
    for query in a:
        assert a[query].keys() == b[query].keys(), query
        assert a[query] == pytest.approx(b[query], abs=1e-5), query


def _same(a: remlite.Database, b: remlite.Database) -> None:
    assert _comparable(a) == _comparable(b)
    _same_scores(_scores(a), _scores(b))
    assert state_digest(a)["digest"] == state_digest(b)["digest"]
    assert a.check()["ok"] and b.check()["ok"]


def test_backup_under_concurrent_writes_restores_a_prefix_of_the_log(tmp_path: Path) -> None:
    source = _open(tmp_path / "src")
    _seed(source)
    source.close()  # saves the index file: the backups carry one from before the writes
    source = _open(tmp_path / "src")
    stop, errors = threading.Event(), []
    writer = threading.Thread(target=_writer, args=(source, stop, errors))
    writer.start()
    taken: list[tuple[int, dict[str, Any], int]] = []
    try:
        for n in range(3):
            while source.last_seq < 70 + 40 * n:  # let the writer get going
                time.sleep(0.005)
            before = source.last_seq
            report = source.backup(tmp_path / f"bk{n}")
            taken.append((before, report, source.last_seq))
    finally:
        stop.set()
        writer.join()
    assert not errors, errors
    assert any(after > before for before, _, after in taken), "the writer never ran during a backup"
    for n, (before, report, after) in enumerate(taken):
        seq = report["seq"]
        assert before <= seq <= after
        assert report["vector_files"] == 1
        remlite.restore(tmp_path / f"bk{n}", tmp_path / f"restored{n}")
        with _open(tmp_path / f"restored{n}") as restored, _open(tmp_path / f"replayed{n}") as replayed:
            assert restored.last_seq == seq
            _replay_to(source, replayed, seq)
            _same(restored, replayed)
    source.close()


def test_quiet_backup_restores_the_source_with_its_index_files(tmp_path: Path) -> None:
    with _open(tmp_path / "src") as source:
        _seed(source)
        source.delete(next(source.scan("docs"))["id"])
        source.add_edge(*[r["id"] for r in source.list("docs", limit=2)], "cites")
    with _open(tmp_path / "src") as source:
        report = source.backup(tmp_path / "bk")
        expected, scores = _comparable(source), _scores(source)
        digest = state_digest(source)["digest"]
    manifest = json.loads((tmp_path / "bk" / MANIFEST).read_bytes())
    assert manifest["seq"] == report["seq"] == source.last_seq
    assert manifest["tenant"] == "default" and manifest["database_id"]
    assert all(len(f["blake2b"]) == 64 and f["size"] >= 0 for f in manifest["files"].values())
    index_files = [name for name in manifest["files"] if name.startswith("vectors/")]
    assert len(index_files) == 1 and manifest["files"][index_files[0]]["seq"] <= manifest["seq"]
    out = remlite.restore(tmp_path / "bk", tmp_path / "new")
    assert out["seq"] == report["seq"] and out["path"] == str(tmp_path / "new" / "default")
    with _open(tmp_path / "new") as restored:
        # the kept database_id makes the copied index file trusted: caught up, not rebuilt
        fields = restored._core.vectors("docs").fields["body"]
        assert fields.trusts(VectorIndex.info(fields.path), restored.last_seq)
        assert _comparable(restored) == expected
        _same_scores(_scores(restored), scores)
        assert state_digest(restored)["digest"] == digest
        assert restored.check()["ok"]


def test_restored_database_takes_writes_and_upserts_by_key(tmp_path: Path) -> None:
    with _open(tmp_path / "src") as source:
        _seed(source, 10)
        t3 = source.lookup("t3")[0]["id"]
        source.backup(tmp_path / "bk")
    remlite.restore(tmp_path / "bk", tmp_path / "new")
    with _open(tmp_path / "new") as db:
        seq = db.last_seq
        assert db.insert("docs", {"title": "t3", "body": "river stone", "kind": "a"}) == t3  # an upsert
        new = db.insert("docs", {"title": "fresh", "body": "paper lamp", "kind": "b"})
        db.add_edge(new, t3, "cites")
        assert db.last_seq == seq + 3
        assert db.search("docs", "paper lamp", k=1)[0]["id"] == new
    with _open(tmp_path / "new") as db:
        assert db.get(t3)["body"] == "river stone" and db.count("docs") == 11
        assert db.check()["ok"]


def test_a_corrupt_byte_is_refused_naming_the_file(tmp_path: Path) -> None:
    with _open(tmp_path / "src") as source:
        _seed(source, 20)
        source.backup(tmp_path / "bk")
    manifest = json.loads((tmp_path / "bk" / MANIFEST).read_bytes())
    name = max((n for n in manifest["files"] if n.endswith(".sst")), key=lambda n: manifest["files"][n]["size"])
    victim = tmp_path / "bk" / name
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    with pytest.raises(BackupCorrupt) as caught:
        remlite.restore(tmp_path / "bk", tmp_path / "new")
    assert name in caught.value.message and caught.value.details["file"] == name
    assert not (tmp_path / "new" / "default").exists()
    assert [p.name for p in (tmp_path / "new").iterdir()] == []  # no staging directory left behind


def test_incomplete_or_tampered_backups_are_refused(tmp_path: Path) -> None:
    with _open(tmp_path / "src") as source:
        _seed(source, 5)
        source.backup(tmp_path / "bk")
    manifest_path = tmp_path / "bk" / MANIFEST
    manifest = json.loads(manifest_path.read_bytes())
    name = next(n for n in manifest["files"] if n.startswith("db/CURRENT"))
    (tmp_path / "bk" / name).unlink()
    with pytest.raises(BackupCorrupt, match="db/CURRENT is missing"):
        remlite.restore(tmp_path / "bk", tmp_path / "new")
    manifest["seq"] += 1  # an edited manifest fails its own checksum
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BackupCorrupt, match="checksum") as caught:
        remlite.restore(tmp_path / "bk", tmp_path / "new")
    assert caught.value.details["file"] == MANIFEST
    with pytest.raises(BackupCorrupt, match="not a remlite backup"):
        remlite.restore(tmp_path / "nothing", tmp_path / "new")
    assert not (tmp_path / "new" / "default").exists()


def test_restore_never_overwrites_and_keeps_the_tenant(tmp_path: Path) -> None:
    with _open(tmp_path / "src", "acme") as source:
        _seed(source, 5)
        source.backup(tmp_path / "bk")
        with pytest.raises(InvalidInput, match="not empty"):
            source.backup(tmp_path / "bk")
    with _open(tmp_path / "other", "acme") as other:
        seq = other.last_seq
    with pytest.raises(InvalidInput, match="already holds a database"):
        remlite.restore(tmp_path / "bk", tmp_path / "other", "acme")
    with _open(tmp_path / "other", "acme") as other:
        assert other.last_seq == seq and "docs" not in [s["name"] for s in other.schemas()]
    with pytest.raises(InvalidInput, match="tenant 'acme'"):
        remlite.restore(tmp_path / "bk", tmp_path / "new", "default")
    assert remlite.restore(tmp_path / "bk", tmp_path / "new", "acme")["tenant"] == "acme"


def test_stream_round_trip_and_a_damaged_stream(tmp_path: Path) -> None:
    with _open(tmp_path / "src") as source:
        _seed(source, 30)
        stream = io.BytesIO()
        report = backup_to_stream(source, stream)
        expected = _state(source)
        assert [p.name for p in (tmp_path / "src").iterdir()] == ["default"]  # its temp files are gone
    out = restore_from_stream(io.BytesIO(stream.getvalue()), tmp_path / "new", "default")
    assert out["seq"] == report["seq"] == expected["last_seq"]
    with _open(tmp_path / "new") as restored:
        assert _state(restored) == expected and restored.check()["ok"]
    raw = bytearray(stream.getvalue())
    raw[len(raw) // 2] ^= 0x01
    with pytest.raises(BackupCorrupt):
        restore_from_stream(io.BytesIO(bytes(raw)), tmp_path / "damaged", "default")
    with pytest.raises(BackupCorrupt):
        restore_from_stream(io.BytesIO(stream.getvalue()[: len(raw) // 2]), tmp_path / "cut", "default")
    for root in (tmp_path / "damaged", tmp_path / "cut"):
        assert not root.exists() or list(root.iterdir()) == []


def test_cli_backup_and_restore(tmp_path: Path) -> None:
    with _open(tmp_path / "src", "acme") as source:
        _seed(source, 5)
        seq = source.last_seq
    result = runner.invoke(
        app, ["backup", str(tmp_path / "bk"), "--path", str(tmp_path / "src"), "--tenant", "acme", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["seq"] == seq
    result = runner.invoke(app, ["restore", str(tmp_path / "bk"), "--path", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    assert f"restored acme at seq {seq}" in result.output
    result = runner.invoke(app, ["restore", str(tmp_path / "bk"), "--path", str(tmp_path / "new"), "--json"])
    assert result.exit_code == 2 and "already holds" in result.output
    with _open(tmp_path / "new", "acme") as db:
        assert db.count("docs") == 5


def test_a_read_only_handle_refuses_backup_compact_and_purge(tmp_path: Path) -> None:
    """A checkpoint of a secondary instance held none of the writer's recent changes (seq 0)."""
    with _open(tmp_path / "src") as writer, remlite.connect(tmp_path / "src", read_only=True) as reader:
        writer.insert("resources", {"name": "a", "uri": "x"})
        for verb in ("backup", "compact", "purge"):
            with pytest.raises(ReadOnly, match=verb):
                getattr(reader, verb)(tmp_path / "bk") if verb == "backup" else getattr(reader, verb)()
        assert reader.stats()["log"]["last_seq"] >= 1
    assert not (tmp_path / "bk").exists()
