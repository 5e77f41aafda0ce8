"""Ingest survives a crash at every write: the kill -9 suite (tests/fault/test_kill.py) hits random
moments; here every write of an ingest fails in turn, deterministically. After each crash the
database is reopened and must show no complete document lacking records (readers trust that status),
then a re-ingest of the directory (as the crash left it, or changed again: the edit reverted, every
file deleted) must converge: one complete document per file, exactly its records, and nothing left
of files that are gone.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import remlite
from remlite.storage.engine import Store

PEOPLE = {
    "name": "people",
    "type": "object",
    "properties": {"email": {"type": "string"}, "name": {"type": "string"}},
    "required": ["email", "name"],
    "key_field": "email",
}
OPTIONS: dict[str, Any] = {"chunk_size": 50, "overlap": 5, "prune": True}  # tokens: 4 characters each (hash)


class Crash(BaseException):
    """The process dies here: a BaseException, so no `except Exception` on the way swallows it."""


@contextmanager
def crash_at(write: int) -> Iterator[list[int]]:
    """Make the `write`-th RocksDB write (0-based) of the block fail before anything is written;
    yields a one-item list counting the writes attempted."""
    real: Callable[[Store, Any], None] = Store.write
    calls = [0]

    def failing(self: Store, batch: Any) -> None:
        calls[0] += 1
        if calls[0] == write + 1:
            raise Crash
        real(self, batch)

    Store.write = failing  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        Store.write = real  # type: ignore[method-assign]


def markdown(n: int, paragraphs: int) -> str:
    parts = [f"# File {n}\n"]
    parts += [f"Paragraph {j} of file {n} says something about topic {n * 10 + j}." for j in range(paragraphs)]
    return "\n\n".join(parts) + "\n"


def people(n: int, rows: int) -> str:
    return "".join(json.dumps({"email": f"p{n}-{j}@x.org", "name": f"person {n}.{j}"}) + "\n" for j in range(rows))


# (table, glob, state before, state after): file name -> content. The step grows one file, shrinks
# another, adds a new one and deletes one, so one ingest passes through every kind of write.
SCENARIOS = {
    "markdown": (
        "resources",
        "*.md",
        {"a.md": markdown(0, 4), "b.md": markdown(1, 8), "d.md": markdown(3, 5)},
        {"a.md": markdown(10, 9), "b.md": markdown(11, 2), "c.md": markdown(12, 6)},
    ),
    "jsonl": (
        "people",
        "*.jsonl",
        {"a.jsonl": people(0, 2), "b.jsonl": people(1, 5), "d.jsonl": people(3, 3)},
        {"a.jsonl": people(0, 5), "b.jsonl": people(1, 1), "c.jsonl": people(2, 3)},
    ),
}


def put_files(directory: Path, files: dict[str, str]) -> None:
    for old in directory.iterdir():
        old.unlink()
    for name, content in files.items():
        (directory / name).write_text(content)


def assert_no_partial_complete(db: remlite.Database, context: str) -> None:
    """A complete document links exactly `chunk_count` live records: a crash may leave a document
    pending, absent or at its old version, never complete and partial."""
    for doc in db.scan("documents"):
        if doc["status"] != "complete":
            continue
        linked = [edge["dst"] for edge in db.edges(doc["id"], "out", type="has_chunk")]
        live = [row for row in db.get_batch(linked) if row is not None]
        assert len(live) == len(linked) == doc["chunk_count"], (
            f"{context}: complete document {doc['name']} links {len(live)} live of {len(linked)} records, "
            f"chunk_count {doc['chunk_count']}"
        )


def assert_converged(db: remlite.Database, table: str, directory: Path, pattern: str, context: str) -> None:
    """Documents are the files, each complete at the file's hash and linking exactly its records;
    the table holds no record of a file that is gone."""
    files = {p.as_uri(): p.read_bytes() for p in directory.glob(pattern)}
    docs = {d["uri"]: d for d in db.scan("documents")}
    assert set(docs) == set(files), f"{context}: documents {sorted(docs)} vs files {sorted(files)}"
    rows = {row["id"]: row for row in db.scan(table)}
    owned: set[str] = set()
    for uri, data in files.items():
        doc = docs[uri]
        assert doc["status"] == "complete", f"{context}: {uri} is {doc['status']}"
        assert doc["sha256"] == hashlib.sha256(data).hexdigest(), f"{context}: {uri} at an old hash"
        linked = {edge["dst"] for edge in db.edges(doc["id"], "out", type="has_chunk")}
        assert linked <= set(rows), f"{context}: {uri} links records that are not live"
        assert len(linked) == doc["chunk_count"], f"{context}: {uri} links {len(linked)} of {doc['chunk_count']}"
        text = data.decode()
        if table == "resources":
            chunks = {rid for rid, row in rows.items() if row["uri"] == uri}
            assert chunks == linked, f"{context}: {uri}: chunks {len(chunks)} vs linked {len(linked)}"
            for rid in chunks:
                row = rows[rid]
                assert row["content"] == text[row["offset_start"] : row["offset_end"]], f"{context}: {uri}"
        else:
            emails = {json.loads(line)["email"] for line in text.splitlines()}
            assert {rows[rid]["email"] for rid in linked} == emails, f"{context}: {uri}"
        owned |= linked
    assert set(rows) == owned, f"{context}: {len(set(rows) - owned)} records of no file remain"
    report = db.check()
    assert report["ok"], f"{context}: {report['problems']}"


def crashed_ingests(tmp_path: Path, scenario: str) -> Iterator[tuple[str, Path]]:
    """Ingest the scenario's step from its first state, failing at write 0, then 1, ... until one
    run finishes; yields (context, database directory) after each, the database closed. The step
    must make enough writes to exercise the protocol."""
    table, pattern, before, after = SCENARIOS[scenario]
    directory, base, root = tmp_path / "files", tmp_path / "base", tmp_path / "db"
    directory.mkdir(exist_ok=True)
    put_files(directory, before)
    with remlite.connect(base, embedder="hash") as db:
        if table == "people":
            db.register_schema(PEOPLE)
        db.ingest([directory], table, glob=pattern, **OPTIONS)
        assert_converged(db, table, directory, pattern, "before")
    write, crashed = 0, True
    while crashed:
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(base, root)
        put_files(directory, after)
        with remlite.connect(root, embedder="hash") as db, crash_at(write) as calls:
            try:
                db.ingest([directory], table, glob=pattern, **OPTIONS)
                crashed = False
            except Crash:
                pass
        yield f"{scenario}: crash at write {write}", root
        write += 1
    assert calls[0] == write - 1 > 5, f"the step made only {calls[0]} writes"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_crash_leaves_no_complete_document_partial(tmp_path: Path, scenario: str) -> None:
    for context, root in crashed_ingests(tmp_path, scenario):
        with remlite.connect(root, embedder="hash") as db:
            assert_no_partial_complete(db, context)


@pytest.mark.parametrize("followup", ["same files", "edit reverted", "all deleted"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_reingest_converges_after_a_crash_at_every_write(tmp_path: Path, scenario: str, followup: str) -> None:
    """After the crash the directory stays as the crashed run saw it, gets its first state back,
    or loses every file; the next ingest (with prune) converges in each case."""
    table, pattern, before, after = SCENARIOS[scenario]
    files = {"same files": after, "edit reverted": before, "all deleted": {}}[followup]
    for context, root in crashed_ingests(tmp_path, scenario):
        with remlite.connect(root, embedder="hash") as db:
            put_files(tmp_path / "files", files)
            db.ingest([tmp_path / "files"], table, glob=pattern, **OPTIONS)
            assert_converged(db, table, tmp_path / "files", pattern, f"{context}, then {followup}")


def test_chunks_an_older_version_left_without_a_document_are_found_by_uri(tmp_path: Path) -> None:
    """Before the pending record was written for new documents too, a crash could leave a new file's
    chunks with no document and no edge; the `uri` index still finds them for the next ingest."""
    directory = tmp_path / "files"
    directory.mkdir()
    put_files(directory, {"a.md": markdown(0, 9)})
    with remlite.connect(tmp_path / "db", embedder="hash") as db:
        db.ingest([directory], glob="*.md", **OPTIONS)
        (doc,) = db.scan("documents")
        db.delete(doc["id"], hard=True)  # and its edges: the chunks alone remain, as that crash left them
        put_files(directory, {"a.md": markdown(0, 3)})
        report = db.ingest([directory], glob="*.md", **OPTIONS)
        assert report.removed > 0
        assert_converged(db, "resources", directory, "*.md", "legacy")
