"""A server runs the daily purge of the tenants it holds open (they are never closed, and closing
is when the library runs it): a due tenant's expired soft-deleted rows go while it serves."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import remlite
from remlite.errors import NotFound
from remlite.serve import app as served_app
from remlite.storage import codec
from remlite.storage.keyspace import MAINTAINED_KEY
from tests.test_serve import run_server


def test_a_served_tenant_is_purged_when_due(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMLITE_DELETED_RETENTION_DAYS", "0")
    monkeypatch.setattr(served_app, "MAINTAIN_CHECK", 0.1)
    runtime = remlite.Runtime()
    with runtime.tenant(tmp_path, "default") as db:
        db.register_schema({"name": "notes", "properties": {"title": {"type": "string"}}})
        gone, kept = db.insert("notes", {"title": "gone"}), db.insert("notes", {"title": "kept"})
        db.delete(gone)
        db._core.store.cf["meta"].put(MAINTAINED_KEY, codec.u64(1))  # last purged in 1970: due
    server, thread, _ = run_server(served_app.create_app(tmp_path, runtime=runtime, auth=False))
    try:
        deadline = time.monotonic() + 10
        while True:
            with runtime.tenant(tmp_path, "default") as db:
                try:
                    db.get(gone, include_deleted=True)
                except NotFound:
                    assert db.get(kept)["title"] == "kept"
                    assert codec.read_u64(db._core.store.cf["meta"].get(MAINTAINED_KEY)) > 1
                    break
            assert time.monotonic() < deadline, "the served tenant was not purged"
            time.sleep(0.05)
    finally:
        server.should_exit = True
        thread.join(10)
        runtime.close()
