"""The one table of served operations: each library verb the HTTP API exposes, with its route, its
input model and the call it makes. The HTTP app (`remlite.serve.app`) and the remote client
(`remlite.serve.client`) are both generated from this table, so a verb has the same name and the
same arguments in the library, over HTTP and through the client.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, RootModel

from remlite.errors import InvalidInput
from remlite.fuzzy import DEFAULT_LIMIT, MAX_LIMIT, MIN_SCORE

if TYPE_CHECKING:
    from remlite.database import Database

JSON = dict[str, Any]


# --------------------------------------------------------------------------- inputs
class SchemaBody(BaseModel):
    """A JSON Schema with remlite's keys (`name`, `key_field`, `indexed_fields`, ...)."""

    model_config = ConfigDict(extra="allow")
    name: str


class RecordsBody(RootModel[dict[str, Any] | list[dict[str, Any]]]):
    """One record, or a list of records (inserted in one atomic validation pass)."""


class ChangesBody(RootModel[dict[str, Any]]):
    """Top-level fields to change."""


class ListQuery(BaseModel):
    limit: int = Field(100, ge=1, le=10_000)
    after: str | None = None


class DeleteQuery(BaseModel):
    hard: bool = False


class DropQuery(BaseModel):
    force: bool = False


class SQLBody(BaseModel):
    sql: str
    params: list[Any] | dict[str, Any] | None = None
    include_deleted: bool = False


class SearchBody(BaseModel):
    table: str
    query: str | list[float]
    k: int = Field(10, ge=1, le=10_000)
    where: str | None = None
    params: list[Any] | dict[str, Any] | None = None
    mode: str = "vector"
    field: str | None = None
    min_score: float | None = None


class TraverseBody(BaseModel):
    start: str
    depth: int = Field(2, ge=0, le=32)
    direction: str = "out"
    type: str | list[str] | None = None
    mode: str = "bfs"


class EdgeBody(BaseModel):
    src: str
    dst: str
    type: str
    properties: dict[str, Any] | None = None


class EdgeList(RootModel[list[EdgeBody]]):
    """Edges to add in one call (validated and their endpoints checked before any is written)."""


class EdgeQuery(BaseModel):
    src: str
    dst: str
    type: str


class PathsBody(BaseModel):
    src: str
    dst: str
    direction: str = "out"
    type: str | list[str] | None = None
    all: bool = False  # every simple path up to max_depth, not one shortest path
    max_depth: int = Field(4, ge=1, le=16)
    limit: int | None = Field(None, ge=1, le=100_000)


class IngestQuery(BaseModel):
    name: str = Field(..., min_length=1, max_length=512, description="the file's name (its extension picks the parser)")
    table: str = "resources"
    chunk_size: int | None = Field(None, ge=1)
    overlap: int | None = Field(None, ge=0)


class EdgesQuery(BaseModel):
    direction: str = "out"
    type: str | None = None


class MomentsBody(BaseModel):
    since: str | None = None
    until: str | None = None
    tags: str | list[str] | None = None
    people: str | list[str] | None = None
    moment_type: str | None = None
    limit: int | None = Field(None, ge=1, le=100_000)
    table: str = "moments"


class AskBody(BaseModel):
    """A question (or a plan to run, e.g. one `POST /v1/plan` returned and the client edited)."""

    question: str | None = Field(None, min_length=1, max_length=2000)
    plan: dict[str, Any] | None = None
    planner: str | None = None
    max_stages: int = Field(3, ge=1, le=10)


class LookupQuery(BaseModel):
    fuzzy: bool = False  # also records whose key or name is like it (typos, case, punctuation, one word)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="fuzzy: at most this many records")
    min_score: float = Field(MIN_SCORE, ge=0, le=1, description="fuzzy: no record scoring below this")


class ChangesQuery(BaseModel):
    after: int = Field(0, ge=0)
    limit: int = Field(1000, ge=1, le=100_000)


# --------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Operation:
    """One served verb. `call(db, args)` gets the path parameters, the query-string model's fields
    and the body (`args["body"]`), and returns what the route answers as JSON."""

    name: str
    method: str
    path: str
    summary: str
    call: Callable[[Database, JSON], Any]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    write: bool = False
    status: int = 200
    example: Any = None
    path_params: tuple[str, ...] = field(default=())
    inline: bool = False  # a point read: run on the event loop, not in a worker thread
    raw_body: bool = False  # the body is a file's bytes (`args["body"]`), not JSON
    to_json: Callable[[Any], Any] | None = None  # the call's value as the JSON answer (default: itself)
    # other answers a client may ask for with its Accept header: media type -> the value as byte chunks
    streams: dict[str, Callable[[Any], Iterator[bytes]]] = field(default_factory=dict)


def _insert(db: Database, args: JSON) -> JSON:
    body = args["body"]
    ids = db.insert_batch(args["table"], body) if isinstance(body, list) else [db.insert(args["table"], body)]
    return {"ids": ids}


def _sql(db: Database, args: JSON) -> JSON:
    body: SQLBody = args["body"]
    result = db.sql(body.sql, body.params, include_deleted=body.include_deleted)
    return {"columns": result.columns, "rows": result.rows}


NDJSON = "application/x-ndjson"
BINARY = "application/octet-stream"


def _json_line(value: Any) -> bytes:
    return orjson.dumps(value, default=str, option=orjson.OPT_APPEND_NEWLINE)


def _sql_lines(found: JSON) -> Iterator[bytes]:
    """NDJSON: a first line {"columns": [...]}, one line per row, and a last line {"end": {"rows": n}}
    (a stream without it was cut short; an error while streaming is an {"error": ...} line)."""
    yield _json_line({"columns": found["columns"]})
    for row in found["rows"]:
        yield _json_line(row)
    yield _json_line({"end": {"rows": len(found["rows"])}})


def _explain(db: Database, args: JSON) -> JSON:
    body: SQLBody = args["body"]
    return db.explain(body.sql, body.params, include_deleted=body.include_deleted, format="json")  # type: ignore[return-value]


def _ask(db: Database, args: JSON) -> JSON:
    body: AskBody = args["body"]
    asked = body.plan if body.plan is not None else body.question
    if asked is None:
        raise InvalidInput("give a question (or a plan to run)")
    return db.ask(asked, planner=body.planner, max_stages=body.max_stages).to_dict()


def _plan(db: Database, args: JSON) -> JSON:
    body: AskBody = args["body"]
    if body.question is None:
        raise InvalidInput("give a question to plan")
    return db.plan(body.question, planner=body.planner, max_stages=body.max_stages).to_dict()


def _search(db: Database, args: JSON) -> list[JSON]:
    body: SearchBody = args["body"]
    return db.search(
        body.table, body.query, body.k, where=body.where, params=body.params, mode=body.mode, field=body.field,
        min_score=body.min_score,
    )  # fmt: skip


def _traverse(db: Database, args: JSON) -> list[JSON]:
    body: TraverseBody = args["body"]
    return db.traverse(body.start, depth=body.depth, direction=body.direction, type=body.type, mode=body.mode)


def _moments(db: Database, args: JSON) -> list[JSON]:
    body: MomentsBody = args["body"]
    return db.moments(
        body.since, body.until, tags=body.tags, people=body.people, moment_type=body.moment_type, limit=body.limit,
        table=body.table,
    )  # fmt: skip


def _paths(db: Database, args: JSON) -> Any:
    body: PathsBody = args["body"]
    if body.all:
        return db.all_paths(
            body.src, body.dst, max_depth=body.max_depth, direction=body.direction, type=body.type, limit=body.limit
        )
    return db.shortest_path(body.src, body.dst, direction=body.direction, type=body.type)


def _ingest(db: Database, args: JSON) -> JSON:
    """The uploaded file is kept under `<root>/.remlite/uploads/<tenant>/<name>` and ingested from
    there: uploading a file of the same name again writes only the chunks that changed."""
    from remlite.serve.uploads import ingest_upload

    return ingest_upload(db, args["query"], args["body"])


def _changes(db: Database, args: JSON) -> JSON:
    query: ChangesQuery = args["query"]
    return {"last_seq": db.last_seq, "entries": db.changes(query.after, query.limit)}


def _changes_json(found: JSON) -> JSON:
    """Entries as base64 of their binary form (`Entry.from_bytes` reads each back)."""
    entries = [{"seq": e.seq, "data": base64.b64encode(e.to_bytes()).decode()} for e in found["entries"]]
    return {"last_seq": found["last_seq"], "entries": entries}


def _changes_lines(found: JSON) -> Iterator[bytes]:
    """NDJSON: one {"seq", "data"} line per entry (data: base64 of the entry's binary form), then
    {"end": {"entries": n, "last_seq": s}}."""
    for entry in found["entries"]:
        yield _json_line({"seq": entry.seq, "data": base64.b64encode(entry.to_bytes()).decode()})
    yield _json_line({"end": {"entries": len(found["entries"]), "last_seq": found["last_seq"]}})


def _changes_frames(found: JSON) -> Iterator[bytes]:
    """Binary: each entry's binary form after its length as 4 bytes, big-endian, then an empty frame
    that ends the stream (`read_frames`)."""
    for entry in found["entries"]:
        raw = entry.to_bytes()
        yield struct.pack(">I", len(raw)) + raw
    yield struct.pack(">I", 0)


def read_frames(data: bytes) -> list[bytes]:
    """The entries' binary forms in a body of `GET /v1/changes` sent as application/octet-stream;
    ValueError when the stream was cut short (no closing empty frame)."""
    frames, at = [], 0
    while at + 4 <= len(data):
        (size,) = struct.unpack_from(">I", data, at)
        if size == 0:
            if at + 4 != len(data):
                raise ValueError("bytes after the end of the change-log stream")
            return frames
        if at + 4 + size > len(data):
            break
        frames.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    raise ValueError("the change-log stream was cut short")


OPERATIONS: list[Operation] = [
    Operation("register_schema", "POST", "/v1/schemas", "Register (or evolve) a table from a JSON Schema",
              lambda db, a: db.register_schema(a["body"].model_dump()), SchemaBody, write=True, status=201,
              example={"name": "tasks", "properties": {"title": {"type": "string"}}, "key_field": "title"}),
    Operation("schemas", "GET", "/v1/schemas", "Every table, with its row count", lambda db, a: db.schemas()),
    Operation("schema", "GET", "/v1/schemas/{name}", "One table's schema and row count",
              lambda db, a: db.schema(a["name"]), path_params=("name",)),
    Operation("drop_schema", "DELETE", "/v1/schemas/{name}", "Drop a table and every row of it",
              lambda db, a: {"removed": db.drop_schema(a["name"], force=a["query"].force)}, query=DropQuery,
              write=True, path_params=("name",)),
    Operation("insert", "POST", "/v1/tables/{table}/records", "Insert (upsert on a natural key) one record or a list",
              _insert, RecordsBody, write=True, status=201, example=[{"title": "write the docs"}],
              path_params=("table",)),
    Operation("list", "GET", "/v1/tables/{table}/records", "Rows of a table in id order, a page at a time",
              lambda db, a: db.list(a["table"], a["query"].limit, a["query"].after), query=ListQuery,
              path_params=("table",)),
    Operation("get", "GET", "/v1/records/{id}", "One record by id", lambda db, a: db.get(a["id"]),
              path_params=("id",), inline=True),
    Operation("update", "PATCH", "/v1/records/{id}", "Merge top-level fields into a record",
              lambda db, a: db.update(a["id"], a["body"]), ChangesBody, write=True, example={"done": True},
              path_params=("id",)),
    Operation("delete", "DELETE", "/v1/records/{id}", "Soft-delete a record (hard=true removes it)",
              lambda db, a: (db.delete(a["id"], hard=a["query"].hard), {"deleted": a["id"]})[1], query=DeleteQuery,
              write=True, path_params=("id",)),
    Operation("lookup", "GET", "/v1/lookup/{key}", "Records whose natural key or name is this (fuzzy: or like it)",
              lambda db, a: db.lookup(a["key"], fuzzy=True, limit=a["query"].limit, min_score=a["query"].min_score)
              if a["query"].fuzzy else db.lookup(a["key"]), query=LookupQuery, path_params=("key",)),
    Operation("sql", "POST", "/v1/sql", "Run one SELECT (with ? or :name parameters)", _sql, SQLBody,
              example={"sql": "SELECT title FROM tasks WHERE done = ?", "params": [False]},
              streams={NDJSON: _sql_lines}),
    Operation("explain", "POST", "/v1/explain", "The plan a SELECT would run with, as data", _explain, SQLBody,
              example={"sql": "SELECT title FROM tasks LIMIT 5"}),
    Operation("search", "POST", "/v1/search", "Vector, text or hybrid search with a WHERE pre-filter", _search,
              SearchBody, example={"table": "notes", "query": "rate limiting", "k": 5, "mode": "hybrid"}),
    Operation("ask", "POST", "/v1/ask", "Answer a question in plain words (or run a plan): rows, plan, timings",
              _ask, AskBody, example={"question": "open critical tickets updated this week"}),
    Operation("plan", "POST", "/v1/plan", "The plan a question becomes, as data (not run)", _plan, AskBody,
              example={"question": "who reviewed the payment service code?"}),
    Operation("traverse", "POST", "/v1/traverse", "Records reachable from a record along edges", _traverse,
              TraverseBody, example={"start": "<id>", "depth": 2, "direction": "out"}),
    Operation("edges", "GET", "/v1/records/{id}/edges", "A record's edges",
              lambda db, a: db.edges(a["id"], a["query"].direction, a["query"].type), query=EdgesQuery,
              path_params=("id",)),
    Operation("add_edge", "POST", "/v1/edges", "Add (or replace the properties of) an edge",
              lambda db, a: db.add_edge(a["body"].src, a["body"].dst, a["body"].type, a["body"].properties),
              EdgeBody, write=True, status=201, example={"src": "<id>", "dst": "<id>", "type": "authored"}),
    Operation("add_edges", "POST", "/v1/edges/batch", "Add many edges at once (all checked before any is written)",
              lambda db, a: {"added": db.add_edges([e.model_dump() for e in a["body"]])}, EdgeList, write=True,
              status=201, example=[{"src": "<id>", "dst": "<id>", "type": "authored"}]),
    Operation("remove_edge", "DELETE", "/v1/edges", "Remove the edge src -[type]-> dst",
              lambda db, a: {"removed": db.remove_edge(a["query"].src, a["query"].dst, a["query"].type)},
              query=EdgeQuery, write=True),
    Operation("paths", "POST", "/v1/paths", "The shortest path between two records (or every path, all=true)",
              _paths, PathsBody, example={"src": "<id>", "dst": "<id>", "direction": "both"}),
    Operation("count", "GET", "/v1/tables/{table}/count", "Live rows of a table",
              lambda db, a: {"count": db.count(a["table"])}, path_params=("table",), inline=True),
    Operation("ingest", "POST", "/v1/ingest", "Upload one file (text, Markdown, HTML, PDF, JSON Lines) and ingest it",
              _ingest, query=IngestQuery, write=True, raw_body=True),
    Operation("moments", "POST", "/v1/moments", "Moments overlapping a time range", _moments, MomentsBody,
              example={"since": "7d", "tags": ["standup"]}),
    Operation("changes", "GET", "/v1/changes", "Change-log entries after a sequence number", _changes,
              query=ChangesQuery, to_json=_changes_json, streams={NDJSON: _changes_lines, BINARY: _changes_frames}),
]  # fmt: skip

BY_NAME = {op.name: op for op in OPERATIONS}
