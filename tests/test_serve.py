"""`remlite serve` through the real HTTP stack (uvicorn on 127.0.0.1, a free port, stopped by the
fixture): every route, the one error shape, API keys (missing, unknown, revoked, read-only), and
tenants that never see each other's data."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

uvicorn = pytest.importorskip("uvicorn")  # the `serve` extra; `make test` installs it

import remlite  # noqa: E402
from remlite.serve.app import create_app  # noqa: E402
from remlite.serve.keys import KeyStore  # noqa: E402
from remlite.serve.operations import OPERATIONS  # noqa: E402
from remlite.storage.changelog import Entry  # noqa: E402

TASKS = {
    "name": "tasks",
    "properties": {"title": {"type": "string"}, "done": {"type": "boolean"}, "body": {"type": "string"}},
    "required": ["title"],
    "key_field": "title",
    "indexed_fields": ["done"],
    "text_fields": ["body"],
}


class Served:
    """A running server and what the tests need of it."""

    def __init__(self, root: Path, url: str, keys: dict[str, str], store: KeyStore) -> None:
        self.root, self.url, self.keys, self.store = root, url, keys, store

    def client(self, who: str | None = "acme") -> httpx.Client:
        headers = {} if who is None else {"authorization": f"Bearer {self.keys.get(who, who)}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def run_server(app: Any) -> tuple[Any, threading.Thread, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("served")
    store = KeyStore(root)
    keys = {
        "acme": store.create("acme"),
        "acme-ro": store.create("acme", read_only=True),
        "other": store.create("other"),
    }
    runtime = remlite.Runtime()
    app = create_app(root, runtime=runtime, max_body=64 * 1024)
    server, thread, url = run_server(app)
    try:
        yield Served(root, url, keys, store)
    finally:
        server.should_exit = True
        thread.join(10)
        runtime.close()


@pytest.fixture(scope="module")
def acme(served: Served) -> dict[str, Any]:
    """acme's data: a table, three tasks, an edge, a moment."""
    with served.client() as http:
        assert http.post("/v1/schemas", json=TASKS).status_code == 201
        rows = [
            {"title": "write docs", "done": False, "body": "rate limiting and retries"},
            {"title": "ship", "done": True, "body": "release the package"},
            {"title": "review", "done": False, "body": "read the rate limiting code"},
        ]
        ids = http.post("/v1/tables/tasks/records", json=rows).json()["ids"]
        edge = {"src": ids[0], "dst": ids[2], "type": "blocks"}
        assert http.post("/v1/edges", json=edge).status_code == 201
        moment = {"name": "standup", "start_time": "2026-11-30T09:00:00Z", "tags": ["team"]}
        moment_id = http.post("/v1/tables/moments/records", json=moment).json()["ids"][0]
    return {"ids": ids, "moment": moment_id}


def request_for(op: Any, acme: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """A valid request for each operation, on acme's data (method, path, httpx arguments)."""
    rid = acme["ids"][1]
    paths = {"name": "tasks", "table": "tasks", "id": rid, "key": "ship"}
    path = op.path.format(**{name: paths[name] for name in op.path_params})
    bodies: dict[str, Any] = {
        "register_schema": {"name": "notes", "properties": {"text": {"type": "string"}}},
        "insert": {"title": "plan", "done": False},
        "update": {"done": True},
        "sql": {"sql": "SELECT title FROM tasks WHERE done = ?", "params": [True]},
        "explain": {"sql": "SELECT title FROM tasks WHERE done = true"},
        "search": {"table": "tasks", "query": "rate limiting", "k": 2, "mode": "text"},
        "traverse": {"start": acme["ids"][0], "depth": 1},
        "add_edge": {"src": acme["ids"][1], "dst": acme["ids"][2], "type": "follows"},
        "moments": {"since": "2026-11-29T00:00:00Z", "until": "2026-12-02T00:00:00Z"},
        "add_edges": [{"src": acme["ids"][1], "dst": acme["ids"][0], "type": "mentions"}],
        "paths": {"src": acme["ids"][0], "dst": acme["ids"][2]},
        "ask": {"question": "find ship", "planner": "rules"},
        "plan": {"question": "tasks about rate limiting", "planner": "rules"},
    }
    queries: dict[str, Any] = {
        "remove_edge": {"src": acme["ids"][1], "dst": acme["ids"][2], "type": "follows"},
        "ingest": {"name": "notes/rate-limits.md", "table": "tasks"},
    }
    kwargs: dict[str, Any] = {}
    if op.body is not None:
        kwargs["json"] = bodies[op.name]
    if op.raw_body:
        kwargs["content"] = b"# Rate limits\n\nThe API allows 100 requests a minute per key.\n"
    if op.name in queries:
        kwargs["params"] = queries[op.name]
    if op.name == "drop_schema":
        path = "/v1/schemas/notes"
    if op.name == "delete":
        path = f"/v1/records/{acme['moment']}"
    if op.name == "edges":
        path = f"/v1/records/{acme['ids'][0]}/edges"
    return op.method, path, kwargs


ORDER = [op for op in OPERATIONS if op.name not in ("drop_schema", "delete")] + [
    op for op in OPERATIONS if op.name in ("drop_schema", "delete")
]


def test_every_route_answers(served: Served, acme: dict[str, Any]) -> None:
    with served.client() as http:
        answers = {}
        for op in ORDER:
            method, path, kwargs = request_for(op, acme)
            response = http.request(method, path, **kwargs)
            assert response.status_code == op.status, (op.name, response.text)
            assert response.headers["x-request-id"]
            answers[op.name] = response.json()
        assert http.get("/v1/health").json()["status"] == "ok"
        assert "remlite_requests_total" in http.get("/metrics").text
    assert answers["get"]["title"] == "ship" and answers["lookup"][0]["title"] == "ship"
    assert answers["sql"] == {"columns": ["title"], "rows": [{"title": "ship"}]}
    assert answers["explain"]["plan"]["step"] == "project"
    assert answers["search"][0]["title"] in ("write docs", "review") and "_score" in answers["search"][0]
    assert [r["title"] for r in answers["traverse"]] == ["review"]
    assert [e["type"] for e in answers["edges"]] == ["blocks"]
    assert [m["name"] for m in answers["moments"]] == ["standup"]
    assert answers["changes"]["entries"] and answers["changes"]["last_seq"] >= len(answers["changes"]["entries"])
    assert {s["name"] for s in answers["schemas"]} >= {"tasks", "notes"} and answers["schema"]["name"] == "tasks"
    assert answers["update"]["done"] is True and answers["insert"]["ids"]
    assert answers["list"][0]["id"] and answers["drop_schema"] == {"removed": 0}
    assert answers["add_edges"] == {"added": 1} and answers["remove_edge"] == {"removed": True}
    assert answers["paths"] == [acme["ids"][0], acme["ids"][2]] and answers["count"]["count"] >= 3
    assert answers["ingest"]["files"] == 1 and answers["ingest"]["new"] >= 1 and not answers["ingest"]["skipped"]
    assert [r["title"] for r in answers["ask"]["rows"]] == ["ship"]
    assert answers["ask"]["plan"]["stages"][0]["kind"] == "lookup"
    assert answers["plan"]["stages"] == [
        {"kind": "search", "text": "rate limiting", "table": "tasks", "mode": "hybrid", "where": [], "k": 10}
    ]


def test_openapi_documents_every_route(served: Served) -> None:
    with served.client(None) as http:
        spec = http.get("/openapi.json").json()
    for op in OPERATIONS:
        described = spec["paths"][op.path][op.method.lower()]
        assert described["summary"] == op.summary
        if op.body is not None:
            assert "requestBody" in described, op.name
        for name in op.path_params:
            assert any(p["name"] == name and p["in"] == "path" for p in described["parameters"]), op.name


def error_of(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "code", "message", "details"}
    assert body["error"]["type"] == kind, body
    assert response.headers["x-request-id"] and "Traceback" not in response.text
    return body["error"]  # type: ignore[no-any-return]


def test_auth_is_required_on_every_route(served: Served, acme: dict[str, Any]) -> None:
    for who, status, kind in [(None, 401, "Unauthorized"), ("rem_00000000_nope", 401, "Unauthorized"),
                              ("Basic abc", 401, "Unauthorized")]:  # fmt: skip
        with served.client(who) as http:
            for op in OPERATIONS:
                method, path, kwargs = request_for(op, acme)
                error_of(http.request(method, path, **kwargs), status, kind)


def test_read_only_keys_read_and_never_write(served: Served, acme: dict[str, Any]) -> None:
    with served.client("acme-ro") as http:
        for op in OPERATIONS:
            method, path, kwargs = request_for(op, acme)
            response = http.request(method, path, **kwargs)
            if op.write:
                assert "read-only" in error_of(response, 403, "Forbidden")["message"]
            else:
                assert response.status_code == 200, (op.name, response.text)
        assert http.get(f"/v1/records/{acme['ids'][0]}").json()["title"] == "write docs"  # nothing was written


def test_a_key_never_reaches_another_tenant(served: Served, acme: dict[str, Any]) -> None:
    with served.client("other") as http:
        for rid in acme["ids"]:
            error_of(http.get(f"/v1/records/{rid}"), 404, "NotFound")
            error_of(http.patch(f"/v1/records/{rid}", json={"done": True}), 404, "NotFound")
            error_of(http.delete(f"/v1/records/{rid}"), 404, "NotFound")
            assert http.get(f"/v1/records/{rid}/edges").json() == []
        assert http.get("/v1/lookup/ship").json() == []
        assert http.post("/v1/ask", json={"question": "find ship", "planner": "rules"}).json()["rows"] == []
        assert http.get("/v1/schemas").json() == [] or "tasks" not in {
            s["name"] for s in http.get("/v1/schemas").json()
        }
        error_of(http.post("/v1/sql", json={"sql": "SELECT * FROM tasks"}), 404, "UnknownTable")
        entities = http.post("/v1/sql", json={"sql": "SELECT COUNT(*) AS n FROM entities"}).json()
        assert entities["rows"] == [{"n": 0}]
        assert http.post("/v1/traverse", json={"start": acme["ids"][0]}).status_code == 404
        entries = [Entry.from_bytes(base64.b64decode(e["data"])) for e in http.get("/v1/changes").json()["entries"]]
        assert entries and all(getattr(e, "table", None) != "tasks" for e in entries)  # its own log only
    with served.client() as http:
        assert http.get(f"/v1/records/{acme['ids'][0]}").json()["title"] == "write docs"


def test_bad_requests_get_the_one_error_shape(served: Served, acme: dict[str, Any]) -> None:
    with served.client() as http:
        error_of(http.post("/v1/sql", content=b"{not json"), 400, "InvalidInput")
        error_of(http.post("/v1/sql", json={"sql": 5}), 400, "InvalidInput")
        error_of(http.post("/v1/sql", json={"sql": "SELEC 1"}), 400, "QueryError")
        error_of(http.post("/v1/sql", json={"sql": "DELETE FROM tasks"}), 400, "QueryError")
        error_of(http.post("/v1/tables/tasks/records", json={"done": "yes"}), 422, "ValidationError")
        error_of(http.post("/v1/tables/nope/records", json={"a": 1}), 404, "UnknownTable")
        error_of(http.get("/v1/records/nope"), 404, "NotFound")
        error_of(http.get("/v1/nothing"), 404, "RouteNotFound")
        error_of(http.put("/v1/sql", json={}), 405, "MethodNotAllowed")
        error_of(http.get("/v1/tables/tasks/records", params={"limit": "many"}), 400, "InvalidInput")
        error_of(http.post("/v1/sql", content=b"x" * (65 * 1024)), 413, "PayloadTooLarge")
        error_of(http.post("/v1/search", json={"table": "tasks", "query": "x", "mode": "psychic"}), 400, "InvalidInput")
        before = http.get(f"/v1/records/{acme['ids'][0]}").json()
        error_of(http.patch(f"/v1/records/{acme['ids'][0]}", json={"done": "nope"}), 422, "ValidationError")
        assert http.get(f"/v1/records/{acme['ids'][0]}").json() == before  # nothing written


def test_sql_and_the_change_log_stream(served: Served, acme: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import orjson

    from remlite.serve.operations import BY_NAME, NDJSON, read_frames

    sql = {"sql": "SELECT title FROM tasks ORDER BY title"}
    with served.client() as http:
        whole = http.post("/v1/sql", json=sql).json()
        streamed = http.post("/v1/sql", json=sql, headers={"accept": NDJSON})
        assert streamed.headers["content-type"] == NDJSON and "content-length" not in streamed.headers
        lines = [orjson.loads(line) for line in streamed.content.splitlines()]
        assert lines[0] == {"columns": whole["columns"]} and lines[1:-1] == whole["rows"]
        assert lines[-1] == {"end": {"rows": len(whole["rows"])}}
        log = http.get("/v1/changes", params={"after": 0}).json()
        ndjson = [orjson.loads(x) for x in http.get("/v1/changes", headers={"accept": NDJSON}).content.splitlines()]
        assert ndjson[:-1] == log["entries"] and ndjson[-1]["end"]["entries"] == len(log["entries"])
        binary = http.get("/v1/changes", headers={"accept": "application/octet-stream"}).content
        assert [base64.b64encode(raw).decode() for raw in read_frames(binary)] == [e["data"] for e in log["entries"]]
        with pytest.raises(ValueError, match="cut short"):
            read_frames(binary[:-4])  # without its closing frame
        error_of(http.post("/v1/sql", json={"sql": "SELECT nope FROM"}, headers={"accept": NDJSON}), 400, "QueryError")

        def failing(found: Any) -> Any:
            yield b'{"columns": []}\n'
            raise RuntimeError("disk on fire")

        monkeypatch.setitem(BY_NAME["sql"].streams, NDJSON, failing)
        broken = http.post("/v1/sql", json=sql, headers={"accept": NDJSON}).content.splitlines()
        assert orjson.loads(broken[-1])["error"]["type"] == "RemliteError" and b"fire" not in b"".join(broken)


def test_uploads_are_named_safely_and_kept_per_tenant(served: Served, acme: dict[str, Any]) -> None:
    text = b"Quotas reset at midnight UTC.\n"
    with served.client() as http:
        for name in ("../escape.md", "/etc/passwd", ".hidden.md", "a/../../b.md", "a//b.md"):
            error_of(
                http.post("/v1/ingest", params={"name": name, "table": "tasks"}, content=text), 400, "InvalidInput"
            )
        error_of(
            http.post("/v1/ingest", params={"name": "empty.md", "table": "tasks"}, content=b""), 400, "InvalidInput"
        )
        assert http.post("/v1/ingest", params={"name": "quota.md", "table": "tasks"}, content=text).status_code == 200
    assert (served.root / ".remlite" / "uploads" / "acme" / "quota.md").read_bytes() == text
    assert not (served.root / "escape.md").exists() and not (served.root / ".remlite" / "escape.md").exists()
    with served.client("other") as http:  # its own uploads and tables: acme's table is not there
        answer = http.post("/v1/ingest", params={"name": "quota.md", "table": "tasks"}, content=text)
        error_of(answer, 404, "UnknownTable")
    assert not (served.root / ".remlite" / "uploads" / "other").exists()  # nothing kept of a refused upload


def test_a_revoked_key_stops_working_at_once(served: Served) -> None:
    token = served.store.create("acme")
    with served.client(token) as http:
        assert http.get("/v1/schemas").status_code == 200
        served.store.revoke(token.split("_")[1])
        assert "revoked" in error_of(http.get("/v1/schemas"), 401, "Unauthorized")["message"]


def test_no_auth_takes_the_tenant_from_a_header(tmp_path: Path) -> None:
    runtime = remlite.Runtime()
    server, thread, url = run_server(create_app(tmp_path, auth=False, runtime=runtime))
    try:
        with httpx.Client(base_url=url, headers={"x-remlite-tenant": "t1"}) as http:
            assert (
                http.post("/v1/schemas", json={"name": "n", "properties": {"a": {"type": "integer"}}}).status_code
                == 201
            )
            http.post("/v1/tables/n/records", json={"a": 1})
        with httpx.Client(base_url=url, headers={"x-remlite-tenant": "t2"}) as http:
            error_of(http.post("/v1/sql", json={"sql": "SELECT a FROM n"}), 404, "UnknownTable")
            error_of(http.get("/v1/schemas", headers={"x-remlite-tenant": "../t1"}), 400, "InvalidInput")
    finally:
        server.should_exit = True
        thread.join(10)
        runtime.close()
    with remlite.connect(tmp_path, "t1") as db:
        assert db.sql("SELECT a FROM n").rows == [{"a": 1}]


def test_the_docs_list_every_route() -> None:
    text = (Path(__file__).parent.parent / "docs" / "serve.md").read_text()
    for op in OPERATIONS:
        assert f"| `{op.method} {op.path}` | `{op.name}` |" in text, op.name


def test_key_commands_and_serve_guards(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from remlite.cli.app import app

    runner = CliRunner()
    made = runner.invoke(app, ["key", "create", "--tenant", "acme", "--read-only", "--path", str(tmp_path)])
    token = made.stdout.strip()
    assert made.exit_code == 0 and token.startswith("rem_") and "\n" not in token
    grant = KeyStore(tmp_path).verify(token)
    assert (grant.tenant, grant.read_only) == ("acme", True)
    listed = runner.invoke(app, ["key", "list", "--json", "--path", str(tmp_path)])
    assert token.split("_")[2] not in listed.stdout and '"read_only":true' in listed.stdout.replace(" ", "")
    assert runner.invoke(app, ["key", "revoke", token.split("_")[1], "--path", str(tmp_path)]).exit_code == 0
    with pytest.raises(remlite.errors.RemliteError, match="revoked"):
        KeyStore(tmp_path).verify(token)
    missing = runner.invoke(app, ["key", "revoke", "nope", "--path", str(tmp_path)])
    assert missing.exit_code != 0 and "no API key" in missing.stderr
    bad = runner.invoke(app, ["key", "create", "--tenant", "../x", "--path", str(tmp_path)])
    assert bad.exit_code != 0 and "invalid tenant" in bad.stderr
    exposed = runner.invoke(app, ["serve", "--no-auth", "--host", "0.0.0.0", "--path", str(tmp_path)])
    assert exposed.exit_code != 0 and "loopback" in exposed.stderr


def test_placement_runs_only_quick_kinds_on_the_loop() -> None:
    from remlite.serve.app import Placement
    from remlite.serve.operations import BY_NAME, SQLBody

    placement = Placement()
    fast = placement.key(BY_NAME["sql"], "acme", {"body": SQLBody(sql="SELECT 1 FROM t LIMIT 1")})
    slow = placement.key(BY_NAME["sql"], "acme", {"body": SQLBody(sql="SELECT COUNT(*) FROM big")})
    assert fast != slow and not placement.quick(fast)  # never seen: a worker thread first
    placement.record(fast, 0.0004)
    placement.record(slow, 0.25)
    assert placement.quick(fast) and not placement.quick(slow)
    placement.record(fast, 0.05)  # it got slow: back to a thread
    assert not placement.quick(fast)
    for i in range(Placement.SIZE + 10):
        placement.record(("sql", "acme", f"q{i}"), 0.001)
    assert len(placement._last) <= Placement.SIZE


def test_a_slow_read_times_out_and_a_write_never_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from remlite.query.engine import Engine

    original = Engine.run

    def slow(self: Any, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.4)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "run", slow)
    from remlite.core import TenantCore

    commit = TenantCore.commit

    def slow_commit(self: Any, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.4)
        return commit(self, *args, **kwargs)

    monkeypatch.setattr(TenantCore, "commit", slow_commit)
    runtime = remlite.Runtime()
    server, thread, url = run_server(create_app(tmp_path, auth=False, runtime=runtime, read_timeout=0.1))
    try:
        with httpx.Client(base_url=url) as http:
            assert http.post("/v1/schemas", json=TASKS).status_code == 201
            answer = error_of(http.post("/v1/sql", json={"sql": "SELECT title FROM tasks"}), 504, "Timeout")
            assert "longer than 0.1 s" in answer["message"]
            assert http.post("/v1/tables/tasks/records", json={"title": "kept"}).status_code == 201
            assert http.get("/v1/lookup/kept").json()[0]["title"] == "kept"
    finally:
        server.should_exit = True
        thread.join(10)
        runtime.close()


def test_fuzzy_lookups_are_placed_apart_from_exact_ones() -> None:
    from remlite.serve.app import Placement
    from remlite.serve.operations import BY_NAME, LookupQuery

    placement = Placement()
    exact = placement.key(BY_NAME["lookup"], "acme", {"key": "alice", "query": LookupQuery()})
    fuzzy = placement.key(BY_NAME["lookup"], "acme", {"key": "alise", "query": LookupQuery(fuzzy=True)})
    assert exact != fuzzy and not BY_NAME["lookup"].inline  # measured, not forced onto the event loop
    placement.record(exact, 0.0001)
    placement.record(fuzzy, 0.02)
    assert placement.quick(exact) and not placement.quick(fuzzy)
