"""`remlite mcp` through the `mcp` SDK's own client over stdio: every tool listed and called, the
schema resources, and three server processes started at once on one directory, all answering."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

mcp = pytest.importorskip("mcp")  # the `serve` extra; `make test` installs it

from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

import remlite  # noqa: E402

TOOLS = {
    "list_schemas", "describe_schema", "search", "query", "ask", "lookup", "get", "upsert", "ingest", "traverse",
    "moments",
}  # fmt: skip
LAUNCH = "import sys; from remlite.cli.app import main; sys.argv = ['remlite'] + sys.argv[1:]; main()"


def server(root: Path, *extra: str) -> StdioServerParameters:
    args = ["-c", LAUNCH, "mcp", "--path", str(root), *extra]
    return StdioServerParameters(command=sys.executable, args=args, env={"REMLITE_EMBED_PROVIDER": "hash"})


def payload(result: Any) -> Any:
    assert not result.isError, result.content
    return (
        json.loads(result.content[0].text) if len(result.content) == 1 else [json.loads(c.text) for c in result.content]
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    with remlite.connect(tmp_path, embedder="hash") as db:
        db.register_schema(
            {
                "name": "people",
                "properties": {"email": {"type": "string"}, "name": {"type": "string"}, "bio": {"type": "string"}},
                "key_field": "email",
                "text_fields": ["bio"],
            }
        )
        ann = db.insert("people", {"email": "ann@x.io", "name": "Ann", "bio": "writes the rate limiter"})
        bob = db.insert("people", {"email": "bob@x.io", "name": "Bob", "bio": "reviews payments"})
        db.add_edge(ann, bob, "mentors")
        db.insert("moments", {"name": "standup", "start_time": "2026-11-30T09:00:00Z", "tags": ["team"]})
    return tmp_path


async def exercise(
    params: StdioServerParameters, writer: bool, started: asyncio.Event | None = None, hold: asyncio.Event | None = None
) -> dict[str, Any]:
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        if started is not None:
            started.set()
        tools = {tool.name for tool in (await session.list_tools()).tools}
        assert tools == TOOLS
        call = session.call_tool
        out: dict[str, Any] = {}
        out["schemas"] = payload(await call("list_schemas", {}))
        out["describe"] = payload(await call("describe_schema", {"name": "people"}))
        out["search"] = payload(await call("search", {"table": "people", "query": "rate limiter", "mode": "text"}))
        out["query"] = payload(
            await call("query", {"sql": "SELECT name FROM people WHERE email = ?", "params": ["bob@x.io"]})
        )
        out["lookup"] = payload(await call("lookup", {"key": "ann@x.io"}))
        ann = out["lookup"]["id"] if isinstance(out["lookup"], dict) else out["lookup"][0]["id"]
        out["get"] = payload(await call("get", {"id": ann}))
        out["traverse"] = payload(await call("traverse", {"start": ann, "depth": 1}))
        out["moments"] = payload(await call("moments", {"since": "2026-11-29", "until": "2026-12-02"}))
        upserted = await call("upsert", {"table": "people", "record": {"email": "cy@x.io", "name": "Cy"}})
        out["upsert"] = upserted if not writer else payload(upserted)
        text = "# Limits\n\nThe rate limiter allows 100 requests a minute."
        ingested = await call("ingest", {"name": "notes/limits.md", "content": text})
        out["ingest"] = ingested if not writer else payload(ingested)
        failed = await call("query", {"sql": "DELETE FROM people"})
        assert failed.isError and "DELETE" in failed.content[0].text
        resource = await session.read_resource("remlite://schemas/people")  # type: ignore[arg-type]
        out["resource"] = json.loads(resource.contents[0].text)  # type: ignore[union-attr]
        if hold is not None:
            await hold.wait()  # keep the process (and its hold on the tenant) alive
        return out


def test_every_tool_over_stdio(root: Path) -> None:
    out = asyncio.run(exercise(server(root), writer=True))
    assert "people" in {s["name"] for s in out["schemas"]} and out["describe"]["count"] == 2
    assert _one(out["search"])["name"] == "Ann" and out["query"]["rows"] == [{"name": "Bob"}]
    assert out["get"]["name"] == "Ann" and _one(out["traverse"])["name"] == "Bob"
    assert _one(out["moments"])["name"] == "standup" and out["upsert"]["id"]
    assert out["resource"]["name"] == "people"
    assert out["ingest"]["files"] == 1 and out["ingest"]["new"] >= 1 and not out["ingest"]["skipped"]
    with remlite.connect(root) as db:
        assert db.lookup("cy@x.io")[0]["name"] == "Cy"
        found = db.search("resources", "rate limiter requests a minute", k=1, mode="text")
        assert "100 requests" in found[0]["content"]


def test_three_processes_on_one_directory_all_answer(root: Path) -> None:
    async def three() -> list[dict[str, Any]]:
        started, hold = asyncio.Event(), asyncio.Event()
        first = asyncio.create_task(exercise(server(root), True, started, hold))
        await started.wait()  # the first owns the tenant; the others start while it holds it
        others = await asyncio.gather(*(exercise(server(root), writer=False) for _ in range(2)))
        hold.set()
        return [await first, *others]

    results = asyncio.run(three())
    for out in results:
        assert out["query"]["rows"] == [{"name": "Bob"}] and _one(out["search"])["name"] == "Ann"
    refused = [out[tool] for out in results[1:] for tool in ("upsert", "ingest")]
    for result in refused:  # a reader's write is refused with a message, not a lock error
        assert result.isError and "reads only" in result.content[0].text


def _one(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def test_mcp_over_http_is_scoped_to_the_api_key(root: Path) -> None:
    import httpx
    from mcp.client.streamable_http import streamable_http_client

    from remlite.serve.app import create_app
    from remlite.serve.keys import KeyStore
    from tests.test_serve import run_server

    store = KeyStore(root)
    keys = {
        "rw": store.create("default"),
        "ro": store.create("default", read_only=True),
        "other": store.create("other"),
    }
    runtime = remlite.Runtime()
    server_, thread, url = run_server(create_app(root, runtime=runtime))

    async def session_of(key: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        http = httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
        async with (
            http,
            streamable_http_client(f"{url}/mcp", http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            assert {tool.name for tool in (await session.list_tools()).tools} == TOOLS
            return [await session.call_tool(name, args) for name, args in calls]

    try:
        query = ("query", {"sql": "SELECT name FROM people ORDER BY name"})
        upsert = ("upsert", {"table": "people", "record": {"email": "dee@x.io", "name": "Dee"}})
        rw = asyncio.run(session_of(keys["rw"], [query, upsert]))
        assert payload(rw[0])["rows"] == [{"name": "Ann"}, {"name": "Bob"}] and payload(rw[1])["id"]
        ro = asyncio.run(session_of(keys["ro"], [query, upsert]))
        assert len(payload(ro[0])["rows"]) == 3 and ro[1].isError and "read-only" in ro[1].content[0].text
        other = asyncio.run(session_of(keys["other"], [query, ("lookup", {"key": "ann@x.io"})]))
        assert other[0].isError and "people" in other[0].content[0].text  # no such table in that tenant
        assert not other[1].isError and payload(other[1]) == []
        bad = asyncio.run(session_of("rem_00000000_nope", [query]))
        assert bad[0].isError and "unknown" in bad[0].content[0].text
    finally:
        server_.should_exit = True
        thread.join(10)
        runtime.close()
