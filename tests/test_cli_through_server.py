"""Every CLI command that writes goes through the `remlite serve` holding the tenant, as `insert` does:
`schema add|drop`, `insert --batch/--file`, `edge add|rm` and `ingest` (with `REMLITE_API_KEY`, a key
of the tenant); without a key they name the server, with another tenant's key they are refused, and
an option the server cannot honour is refused rather than dropped.

One server serves the whole module (starting one is the slow part); each test writes its own tables
or records, so the tests do not depend on their order.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

import remlite
from remlite.cli.app import app
from remlite.serve.keys import KeyStore

NOTES = {
    "name": "notes",
    "properties": {"title": {"type": "string"}, "n": {"type": "integer"}},
    "key_field": "title",
}
LAUNCH = "import sys; from remlite.cli.app import main; sys.argv = ['remlite'] + sys.argv[1:]; main()"


@dataclass(frozen=True)
class Served:
    root: Path
    url: str
    key: str  # a read-write key of the tenant "default"
    other_key: str  # a key of the tenant "elsewhere"

    def cli(self, *args: str, key: str | None = None, stdin: str | None = None) -> Result:
        """`remlite ARGS --path ROOT` in this process, with REMLITE_API_KEY set to `key` (unset for None)."""
        env = {"REMLITE_API_KEY": key, "REMLITE_PATH": None, "REMLITE_TENANT": None}
        return CliRunner().invoke(app, [*args, "--path", str(self.root)], env=env, input=stdin)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"authorization": f"Bearer {self.key}"}, timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A `remlite serve` subprocess on a free loopback port that holds the tenant "default"."""
    root = tmp_path_factory.mktemp("served")
    with remlite.connect(root) as db:
        db.register_schema(NOTES)
    store = KeyStore(root)
    key, other_key = store.create("default"), store.create("elsewhere")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "serve", "--path", str(root), "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "REMLITE_EMBED_PROVIDER": "hash"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.get(f"{url}/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                assert server.poll() is None, "remlite serve exited"
                time.sleep(0.05)
        ready = Served(root, url, key, other_key)
        with ready.http() as http:
            assert http.get("/v1/schemas").status_code == 200  # the server now holds the tenant
        yield ready
    finally:
        server.terminate()
        server.wait(10)


def _through(result: Result, served: Served) -> None:
    """The command succeeded, and said it wrote through the server."""
    assert result.exit_code == 0, result.output + result.stderr
    assert f"note: {served.url} holds the database; writing through it" in result.stderr


def _count(served: Served, table: str) -> int:
    with served.http() as http:
        return int(http.get(f"/v1/tables/{table}/count").json()["count"])


def _insert(served: Served, *titles: str) -> list[str]:
    with served.http() as http:
        answer = http.post("/v1/tables/notes/records", json=[{"title": title} for title in titles])
    assert answer.status_code == 201, answer.text
    return list(answer.json()["ids"])


# --------------------------------------------------------------------------- schema add / drop
def test_schema_add_registers_and_evolves_tables_through_the_server(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cards.yaml").write_text("name: cards\nproperties:\n  title: {type: string}\nkey_field: title\n")
    added = served.cli("schema", "add", str(tmp_path / "cards.yaml"), "--json", key=served.key)
    _through(added, served)
    assert json.loads(added.stdout)["name"] == "cards" and json.loads(added.stdout)["version"] == 1

    fields = {"title": {"type": "string"}, "rank": {"type": "integer"}}
    evolved = json.dumps({"name": "cards", "properties": fields, "key_field": "title"})
    upgraded = served.cli("schema", "add", "-", "--json", key=served.key, stdin=evolved)
    _through(upgraded, served)
    assert json.loads(upgraded.stdout)["version"] == 2

    # --name wins over the document's name, as it does locally
    renamed = served.cli("schema", "add", str(tmp_path / "cards.yaml"), "--name", "cards_copy", key=served.key)
    _through(renamed, served)
    assert "registered cards_copy" in renamed.stdout

    # a Pydantic model is read on this side: the server cannot import the user's module
    (tmp_path / "through_server_models.py").write_text(
        "from pydantic import BaseModel\n\n\nclass ReadingItem(BaseModel):\n    url: str\n    read: bool = False\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    modelled = served.cli("schema", "add", "through_server_models:ReadingItem", key=served.key)
    _through(modelled, served)
    with served.http() as http:
        assert http.get("/v1/schemas/cards").json()["json_schema"]["properties"] == fields
        assert http.get("/v1/schemas/cards_copy").json()["version"] == 1
        assert set(http.get("/v1/schemas/reading_item").json()["json_schema"]["properties"]) == {"url", "read"}


def test_schema_drop_drops_through_the_server(served: Served) -> None:
    with served.http() as http:
        for name in ("scratch", "scratch_asked"):
            assert http.post("/v1/schemas", json={"name": name, "properties": {"a": {"type": "string"}}}).is_success
        assert http.post("/v1/tables/scratch/records", json={"a": "x"}).status_code == 201
    dropped = served.cli("schema", "drop", "scratch", "--yes", "--json", key=served.key)
    _through(dropped, served)
    assert json.loads(dropped.stdout) == {"table": "scratch", "dropped": True, "rows_removed": 1}

    asked = served.cli("schema", "drop", "scratch_asked", key=served.key, stdin="y\n")
    _through(asked, served)
    assert "drop table scratch_asked and its 0 live row(s)?" in asked.stderr

    template = served.cli("schema", "drop", "moments", "--yes", key=served.key)
    assert template.exit_code == 4 and "--force" in template.stderr  # the server's SchemaError, as locally
    with served.http() as http:
        assert http.get("/v1/schemas/scratch").status_code == 404
        assert http.get("/v1/schemas/scratch_asked").status_code == 404
        assert http.get("/v1/schemas/moments").status_code == 200


# --------------------------------------------------------------------------- insert --batch / --file
def test_insert_batch_loads_json_lines_through_the_server(served: Served, tmp_path: Path) -> None:
    before = _count(served, "notes")
    lines = tmp_path / "notes.jsonl"
    lines.write_text('{"title": "b1", "n": 1}\n\n{"title": "b2", "n": 2}\n{"title": "b3"}\n')
    loaded = served.cli("insert", "notes", "--file", str(lines), "--json", key=served.key)
    _through(loaded, served)
    assert json.loads(loaded.stdout)["inserted"] == 3
    piped = served.cli("insert", "notes", "--batch", key=served.key, stdin='{"title": "b4"}\n')
    _through(piped, served)
    assert "inserted 1 rows into notes" in piped.stdout
    assert _count(served, "notes") == before + 4
    with served.http() as http:
        titles = {row["title"] for row in http.get("/v1/tables/notes/records", params={"limit": 1000}).json()}
    assert {"b1", "b2", "b3", "b4"} <= titles

    # bad input changes nothing, and the error names the input line (blank lines counted)
    lines.write_text('{"title": "c1"}\n\n{"title": "c2", "n": "two"}\n')
    bad = served.cli("insert", "notes", "--file", str(lines), key=served.key)
    assert bad.exit_code == 3 and "line 3" in bad.stderr, bad.stderr
    # the server writes in its own chunks: a --chunk-size would be silently dropped, so it is refused
    chunked = served.cli("insert", "notes", "--file", str(lines), "--chunk-size", "2", key=served.key)
    assert chunked.exit_code == 2 and "--chunk-size is not available through a server" in chunked.stderr
    assert _count(served, "notes") == before + 4


# --------------------------------------------------------------------------- edge add / rm
def test_edge_add_and_rm_go_through_the_server(served: Served) -> None:
    src, dst = _insert(served, "e-src", "e-dst")
    added = served.cli("edge", "add", src, dst, "cites", "--props", '{"w": 1}', "--json", key=served.key)
    _through(added, served)
    assert json.loads(added.stdout)["type"] == "cites"
    with served.http() as http:
        edges = http.get(f"/v1/records/{src}/edges").json()
    assert [(e["dst"], e["type"], e["properties"]) for e in edges] == [(dst, "cites", {"w": 1})]

    removed = served.cli("edge", "rm", src, dst, "cites", key=served.key)
    _through(removed, served)
    assert removed.stdout.strip() == f"removed {src} -[cites]-> {dst}"
    with served.http() as http:
        assert http.get(f"/v1/records/{src}/edges").json() == []
    again = served.cli("edge", "rm", src, dst, "cites", key=served.key)
    assert again.exit_code == 5  # no such edge, as locally


# --------------------------------------------------------------------------- ingest
def test_ingest_uploads_a_directory_through_the_server(served: Served, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "guides").mkdir(parents=True)
    (docs / "alpha.md").write_text("# Alpha\n\nThe alpha document talks about rate limits.\n")
    (docs / "guides" / "beta.md").write_text("# Beta\n\nThe beta guide explains retries.\n")
    ingested = served.cli("ingest", str(docs), "--json", key=served.key)
    _through(ingested, served)
    report = json.loads(ingested.stdout)
    assert report["files"] == 2 and report["changed_files"] == 2 and report["new"] >= 2 and not report["skipped"]
    with served.http() as http:
        found = http.post("/v1/sql", json={"sql": "SELECT uri, content FROM resources"}).json()["rows"]
    contents = " ".join(str(row) for row in found)
    assert "rate limits" in contents and "retries" in contents

    again = served.cli("ingest", str(docs), "--json", key=served.key)  # same upload names: nothing changed
    _through(again, served)
    assert json.loads(again.stdout)["changed_files"] == 0

    pruned = served.cli("ingest", str(docs), "--prune", key=served.key)
    assert pruned.exit_code == 2 and "--prune is not available through a server" in pruned.stderr
    assert len(pruned.stderr.strip().splitlines()) == 1  # one error line, no note that it wrote


# --------------------------------------------------------------------------- refusals
SRC, DST = "00000000-0000-4000-8000-000000000000", "11111111-1111-4111-8111-111111111111"
WRITES: dict[str, Callable[[Path], list[str]]] = {
    "schema-add": lambda d: ["schema", "add", str(d / "refused.json")],
    "schema-drop": lambda d: ["schema", "drop", "notes", "--yes"],
    "insert-file": lambda d: ["insert", "notes", "--file", str(d / "refused.jsonl")],
    "edge-add": lambda d: ["edge", "add", SRC, DST, "cites"],
    "edge-rm": lambda d: ["edge", "rm", SRC, DST, "cites"],
    "ingest": lambda d: ["ingest", str(d / "refused.md")],
}


@pytest.mark.parametrize("command", list(WRITES))
def test_a_write_needs_a_key_of_the_served_tenant(served: Served, tmp_path: Path, command: str) -> None:
    (tmp_path / "refused.json").write_text(json.dumps({"name": "refused", "properties": {"a": {"type": "string"}}}))
    (tmp_path / "refused.jsonl").write_text('{"title": "refused"}\n')
    (tmp_path / "refused.md").write_text("# Refused\n\nNever stored.\n")
    args = WRITES[command](tmp_path)

    keyless = served.cli(*args, key=None)
    assert keyless.exit_code == 9, keyless.stderr
    assert served.url in keyless.stderr and "REMLITE_API_KEY" in keyless.stderr

    foreign = served.cli(*args, key=served.other_key)
    assert foreign.exit_code == 2, foreign.stderr
    assert "REMLITE_API_KEY is a key of tenant 'elsewhere', not 'default'" in foreign.stderr

    with served.http() as http:
        assert http.get("/v1/schemas/refused").status_code == 404
        assert http.get("/v1/schemas/notes").status_code == 200
        assert http.get("/v1/lookup/refused").json() == []
