"""`remlite mcp`: the Model Context Protocol server (stdio), on the official `mcp` SDK (1.x).

Small verb-named tools over the library's calls — `search`, `query` (SQL, read-only by nature),
`lookup`, `get`, `upsert`, `traverse`, `moments`, `list_schemas`, `describe_schema` — and each
table's schema as a resource (`remlite://schemas/{name}`). A library error becomes the tool's
error message.

MCP hosts start several server processes at once. The first to open a tenant writes it; the
others find it locked and open it read-only (`remlite.readonly`): they answer every read, and a
write through them says which process holds the tenant — never a lock error on a read, never two
writers. `--read-only` makes a process a reader from the start.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import orjson
from mcp.server.fastmcp import Context, FastMCP

from remlite.errors import DatabaseLocked, ReadOnly

# (the request's context, whether the tool writes) -> the tenant's database for this call
Provider = Callable[[Context, bool], AbstractContextManager[Any]]

INSTRUCTIONS = (
    "remlite: an embedded database of Resources (documents, searchable), Entities (typed records with a "
    "natural key), Moments (time-bounded events) and typed graph edges. Start with list_schemas, then "
    "search / query / lookup / traverse / moments."
)


def open_tenant(path: Any, tenant: str, read_only: bool) -> Any:
    """The tenant for this process: the writer if the tenant is free, else a reader."""
    import remlite

    if read_only:
        return remlite.connect(path, tenant, read_only=True)
    try:
        return remlite.connect(path, tenant)
    except DatabaseLocked:
        return remlite.connect(path, tenant, read_only=True)


def _plain(value: Any) -> Any:
    """JSON-native values (vectors and other numpy values as lists)."""
    return orjson.loads(orjson.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


def over(db: Any) -> Provider:
    """The provider of one open tenant (stdio): a read-only handle refuses writes by name."""

    def provide(ctx: Context, writes: bool) -> AbstractContextManager[Any]:
        if writes and getattr(db, "read_only", False):
            raise ReadOnly("this MCP server reads only: another process writes this tenant")
        return nullcontext(db)

    return provide


def build(provide: Provider, **options: Any) -> FastMCP:
    """The MCP server; each tool runs on the database `provide` gives for its request (one open
    tenant over stdio, the API key's tenant over HTTP)."""
    server = FastMCP("remlite", instructions=INSTRUCTIONS, log_level="WARNING", **options)

    @server.tool()
    def list_schemas(ctx: Context) -> list[dict[str, Any]]:
        """Every table: its name, fields, key, indexed / embedded / text fields and row count."""
        with provide(ctx, False) as db:
            return _plain(db.schemas())  # type: ignore[no-any-return]

    @server.tool()
    def describe_schema(name: str, ctx: Context) -> dict[str, Any]:
        """One table's schema and row count."""
        with provide(ctx, False) as db:
            return _plain(db.schema(name))  # type: ignore[no-any-return]

    @server.tool()
    def search(
        ctx: Context, table: str, query: str, k: int = 10, where: str | None = None, mode: str = "hybrid"
    ) -> list[dict[str, Any]]:
        """Rows of `table` best matching `query` (mode: vector, text or hybrid), filtered by an
        optional SQL `where` over its fields; each with `_score`."""
        with provide(ctx, False) as db:
            return _plain(db.search(table, query, k, where=where, mode=mode))  # type: ignore[no-any-return]

    @server.tool()
    def query(ctx: Context, sql: str, params: list[Any] | None = None) -> dict[str, Any]:
        """Run one SQL SELECT (DuckDB's dialect for anything beyond the basics; `?` parameters).
        Writes are refused. Returns {columns, rows}."""
        with provide(ctx, False) as db:
            result = db.sql(sql, params)
            return _plain({"columns": result.columns, "rows": result.rows})  # type: ignore[no-any-return]

    @server.tool()
    def ask(ctx: Context, question: str, planner: str | None = None) -> dict[str, Any]:
        """Answer a question in plain words ("open critical tickets", "who reviewed the payment
        service code?", "meetings last week"): the rows, the plan that ran (lookups, filters,
        search, graph traversal, moments), its confidence and explanation."""
        with provide(ctx, False) as db:
            answer = db.ask(question, planner=planner).to_dict()
            answer["rows"] = answer["rows"][:50]
            return _plain(answer)  # type: ignore[no-any-return]

    @server.tool()
    def lookup(key: str, ctx: Context, fuzzy: bool = False) -> list[dict[str, Any]]:
        """Records whose natural key or name is `key`, across every table; with `fuzzy`, also
        those whose key or name is like it (typos, case, partial names), best first with `_score`."""
        with provide(ctx, False) as db:
            return _plain(db.lookup(key, fuzzy=fuzzy) if fuzzy else db.lookup(key))  # type: ignore[no-any-return]

    @server.tool()
    def get(id: str, ctx: Context) -> dict[str, Any]:
        """One record by id (or by an unambiguous natural key)."""
        with provide(ctx, False) as db:
            return _plain(db.get(id))  # type: ignore[no-any-return]

    @server.tool()
    def upsert(table: str, record: dict[str, Any], ctx: Context) -> dict[str, Any]:
        """Insert a record (an upsert on the table's natural key); returns its id."""
        with provide(ctx, True) as db:
            return {"id": db.insert(table, record)}

    @server.tool()
    def ingest(name: str, content: str, ctx: Context, table: str = "resources") -> dict[str, Any]:
        """Store a document and make it searchable: `content` is its text (plain, Markdown or HTML),
        `name` (like "notes/limits.md") names it and its extension picks the parser. Sending the same
        name again updates the document, rewriting only the chunks that changed."""
        from remlite.serve.operations import IngestQuery
        from remlite.serve.uploads import ingest_upload

        with provide(ctx, True) as db:
            return ingest_upload(db, IngestQuery(name=name, table=table), content.encode())

    @server.tool()
    def traverse(
        ctx: Context, start: str, depth: int = 2, direction: str = "out", type: str | None = None
    ) -> list[dict[str, Any]]:
        """Records reachable from record `start` along edges (direction: out, in or both; `type`
        keeps one edge type), each with `_depth` and `_path`."""
        with provide(ctx, False) as db:
            return _plain(db.traverse(start, depth=depth, direction=direction, type=type))  # type: ignore[no-any-return]

    @server.tool()
    def moments(
        ctx: Context,
        since: str | None = None,
        until: str | None = None,
        tags: list[str] | None = None,
        limit: int | None = 50,
    ) -> list[dict[str, Any]]:
        """Moments overlapping [since, until] (ISO 8601, a date, or `7d`), optionally with every tag."""
        with provide(ctx, False) as db:
            return _plain(db.moments(since, until, tags=tags, limit=limit))  # type: ignore[no-any-return]

    @server.resource("remlite://schemas/{name}", mime_type="application/json")
    def schema_resource(name: str) -> str:
        """A table's schema."""
        with provide(server.get_context(), False) as db:
            return orjson.dumps(_plain(db.schema(name))).decode()

    return server


def run_stdio(path: Any, tenant: str, read_only: bool) -> None:
    db = open_tenant(path, tenant, read_only)
    try:
        build(over(db)).run("stdio")
    finally:
        db.close()
