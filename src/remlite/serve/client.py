"""The remote client: `remlite.connect("http://host:8000", api_key=...)`.

Same method names, arguments and return shapes as a local `remlite.Database` for the served verbs,
so code moves between embedded and served without changes; an error comes back as the same
`remlite.errors` class, with its message and details. Each method names its operation in
`remlite.serve.operations.OPERATIONS`, which holds the route: the server and this client are
generated from the one table.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from remlite import errors
from remlite.ask.plan import Plan
from remlite.ask.run import Answer
from remlite.fuzzy import DEFAULT_LIMIT, MIN_SCORE
from remlite.query.result import Result
from remlite.results import Rows
from remlite.serve import keys
from remlite.serve.operations import BINARY, BY_NAME, read_frames
from remlite.settings import Settings


class RemoteDatabase:
    """A tenant served by `remlite serve`, reached over HTTP (see the module docstring)."""

    def __init__(self, url: str, api_key: str | None = None, tenant: str = "default", timeout: float = 30.0) -> None:
        token = api_key if api_key is not None else Settings.from_env().api_key
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=keys.request_headers(tenant, token), timeout=timeout)

    def __repr__(self) -> str:
        return f"<remlite.RemoteDatabase {self.url!r}>"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport
    def _call(
        self, name: str, path: dict[str, str] | None = None, query: dict[str, Any] | None = None, body: Any = None
    ) -> Any:
        op = BY_NAME[name]
        route = op.path.format(**{k: _quote(v) for k, v in (path or {}).items()})
        params = {k: v for k, v in (query or {}).items() if v is not None}
        return self._send(op.method, route, params, json=body if op.body else None).json()

    def _send(self, method: str, route: str, params: dict[str, Any] | None = None, **content: Any) -> httpx.Response:
        """The server's answer; an error answer raised as its remlite error."""
        try:
            response = self._http.request(method, route, params=params, **content)
        except httpx.HTTPError as exc:
            raise errors.StorageError(f"remlite server {self.url} unreachable: {exc}") from None
        if response.status_code >= 400:
            raise _error(response)
        return response

    def key(self) -> dict[str, Any]:
        """The tenant and rights of this client's API key: {"id", "tenant", "read_only"}."""
        return self._send("GET", "/v1/key").json()  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ schemas
    def register_schema(self, source: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        schema = dict(source) if name is None else {**source, "name": name}
        return self._call("register_schema", body=schema)  # type: ignore[no-any-return]

    def schemas(self) -> list[dict[str, Any]]:
        return self._call("schemas")  # type: ignore[no-any-return]

    def schema(self, name: str) -> dict[str, Any]:
        return self._call("schema", {"name": name})  # type: ignore[no-any-return]

    def drop_schema(self, name: str, *, force: bool = False) -> int:
        return int(self._call("drop_schema", {"name": name}, {"force": force})["removed"])

    # ------------------------------------------------------------------ records
    def insert(self, table: str, record: dict[str, Any]) -> str:
        return str(self._call("insert", {"table": table}, body=record)["ids"][0])

    def insert_batch(self, table: str, records: list[dict[str, Any]]) -> list[str]:
        return list(self._call("insert", {"table": table}, body=list(records))["ids"])

    def get(self, record_id: str) -> dict[str, Any]:
        return self._call("get", {"id": record_id})  # type: ignore[no-any-return]

    def update(self, record_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self._call("update", {"id": record_id}, body=changes)  # type: ignore[no-any-return]

    def delete(self, record_id: str, hard: bool = False) -> None:
        self._call("delete", {"id": record_id}, {"hard": hard})

    def list(self, table: str, limit: int | None = 100, after: str | None = None) -> list[dict[str, Any]]:
        return self._call("list", {"table": table}, {"limit": limit, "after": after})  # type: ignore[no-any-return]

    def lookup(
        self, key: str, fuzzy: bool = False, limit: int = DEFAULT_LIMIT, min_score: float = MIN_SCORE
    ) -> list[dict[str, Any]]:
        query = {"fuzzy": True, "limit": limit, "min_score": min_score} if fuzzy else None
        return self._call("lookup", {"key": key}, query)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ queries
    def sql(self, text: str, params: Any = None, *, include_deleted: bool = False) -> Result:
        found = self._call("sql", body={"sql": text, "params": params, "include_deleted": include_deleted})
        return Result(found["columns"], found["rows"])

    def explain(self, text: str, params: Any = None, *, include_deleted: bool = False, format: str = "text") -> Any:
        if format not in ("text", "json"):
            raise errors.InvalidInput(f"format must be 'text' or 'json', got {format!r}")
        found = self._call("explain", body={"sql": text, "params": params, "include_deleted": include_deleted})
        return "\n".join(found["lines"]) if format == "text" else found

    def search(
        self,
        table: str,
        query: Any,
        k: int = 10,
        *,
        where: str | None = None,
        params: Any = None,
        mode: str = "vector",
        field: str | None = None,
        min_score: float | None = None,
    ) -> list[dict[str, Any]]:
        body = {
            "table": table,
            "query": query,
            "k": k,
            "where": where,
            "params": params,
            "mode": mode,
            "field": field,
            "min_score": min_score,
        }
        return Rows(self._call("search", body=body))

    def ask(
        self, question: str | Plan | dict[str, Any], *, planner: str | None = None, max_stages: int = 3
    ) -> Answer:
        body: dict[str, Any] = {"planner": planner, "max_stages": max_stages}
        if isinstance(question, str):
            body["question"] = question
        else:
            body["plan"] = question.to_dict() if isinstance(question, Plan) else question
        found = self._call("ask", body=body)
        return Answer(
            rows=found["rows"], plan=Plan.from_dict(found["plan"]), confidence=found["confidence"],
            explanation=found["explanation"], timings=found["timings"], used_fallback=found["used_fallback"],
            usage=found.get("usage"),
        )  # fmt: skip

    def plan(self, question: str, *, planner: str | None = None, max_stages: int = 3) -> Plan:
        body = {"question": question, "planner": planner, "max_stages": max_stages}
        return Plan.from_dict(self._call("plan", body=body))

    def traverse(
        self, start: str, depth: int = 2, direction: str = "out", type: Any = None, mode: str = "bfs"
    ) -> list[dict[str, Any]]:
        body = {"start": start, "depth": depth, "direction": direction, "type": type, "mode": mode}
        return Rows(self._call("traverse", body=body))

    def edges(self, record_id: str, direction: str = "out", type: str | None = None) -> list[dict[str, Any]]:
        return self._call("edges", {"id": record_id}, {"direction": direction, "type": type})  # type: ignore[no-any-return]

    def add_edge(self, src: str, dst: str, type: str, props: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"src": src, "dst": dst, "type": type, "properties": props}
        return self._call("add_edge", body=body)  # type: ignore[no-any-return]

    def add_edges(self, edges: Any, *, chunk_size: int | None = None) -> int:
        """`chunk_size` is the server's concern: accepted for the same signature, not sent."""
        from remlite.graph.edges import edge_tuple

        body = [
            dict(zip(("src", "dst", "type", "properties"), edge_tuple(e, i), strict=True)) for i, e in enumerate(edges)
        ]
        return int(self._call("add_edges", body=body)["added"])

    def remove_edge(self, src: str, dst: str, type: str) -> bool:
        return bool(self._call("remove_edge", query={"src": src, "dst": dst, "type": type})["removed"])

    def shortest_path(self, src: str, dst: str, direction: str = "out", type: Any = None) -> list[str]:
        body = {"src": src, "dst": dst, "direction": direction, "type": type}
        return self._call("paths", body=body)  # type: ignore[no-any-return]

    def all_paths(
        self, src: str, dst: str, max_depth: int = 4, direction: str = "out", type: Any = None, limit: int | None = None
    ) -> list[list[str]]:
        body = {"src": src, "dst": dst, "direction": direction, "type": type, "all": True, "max_depth": max_depth}
        return self._call("paths", body={**body, "limit": limit})  # type: ignore[no-any-return]

    def count(self, table: str) -> int:
        return int(self._call("count", {"table": table})["count"])

    def ingest(
        self,
        paths: Any,
        table: str = "resources",
        *,
        chunk_size: int | None = None,
        overlap: int | None = None,
        glob: Any = None,
        progress: Any = None,
    ) -> Any:
        """Upload each file (directories walked as the local `ingest` walks them) to the server,
        which ingests it; the reports summed into one `IngestReport`. A file is named on the
        server by its path relative to the directory given (or its own name)."""
        from remlite.ingest.files import collect, require_found
        from remlite.ingest.job import _path_list
        from remlite.ingest.report import IngestReport, Progress

        given = _path_list(paths)
        files, skipped = collect(given, None if glob is None else ([glob] if isinstance(glob, str) else list(glob)))
        require_found(skipped)
        report = IngestReport(table=table)
        sizes = [path.stat().st_size for path in files]
        for done, path in enumerate(files, 1):
            query = {"name": _upload_name(path, given), "table": table, "chunk_size": chunk_size, "overlap": overlap}
            params = {k: v for k, v in query.items() if v is not None}
            found = self._send("POST", BY_NAME["ingest"].path, params, content=path.read_bytes()).json()
            for field in ("files", "changed_files", "new", "updated", "moved", "unchanged", "removed"):
                setattr(report, field, getattr(report, field) + found[field])
            report.skipped.extend((str(path), skipped["reason"]) for skipped in found["skipped"])
            report.seconds += found["seconds"]
            if progress is not None:
                progress(Progress(str(path), done, len(files), report.chunks, bool(found["skipped"]),
                                  sum(sizes[:done]), sum(sizes)))  # fmt: skip
        return report

    def moments(
        self,
        since: Any = None,
        until: Any = None,
        tags: Any = None,
        people: Any = None,
        moment_type: str | None = None,
        limit: int | None = None,
        *,
        table: str = "moments",
    ) -> list[dict[str, Any]]:
        body = {
            "since": _text(since),
            "until": _text(until),
            "tags": tags,
            "people": people,
            "moment_type": moment_type,
            "limit": limit,
            "table": table,
        }
        return Rows(self._call("moments", body=body))

    def changes(self, after_seq: int = 0, limit: int = 1000) -> list[Any]:
        from remlite.storage.changelog import Entry

        # the binary stream: no base64, and an answer cut short is detected (read_frames)
        params = {"after": after_seq, "limit": limit}
        response = self._send("GET", BY_NAME["changes"].path, params, headers={"accept": BINARY})
        try:
            return [Entry.from_bytes(raw) for raw in read_frames(response.content)]
        except ValueError as exc:
            raise errors.StorageError(f"the change log from {self.url} was not read whole: {exc}") from None


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")


def _upload_name(path: Any, given: list[Any]) -> str:
    """A file's name on the server: relative to the directory it was found under, else its own."""
    from pathlib import Path

    for root in given:
        base = Path(root).expanduser().resolve()
        if base.is_dir() and Path(path).resolve().is_relative_to(base):
            return Path(path).resolve().relative_to(base).as_posix()
    return Path(path).name


def _text(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _error(response: httpx.Response) -> errors.RemliteError:
    return error_from(response.status_code, response.content)


def error_from(status: int, body: bytes) -> errors.RemliteError:
    """A server's error answer (its status and body) as the same remlite error class (RemliteError
    when unknown)."""
    try:
        error = orjson.loads(body)["error"]
        kind, message, details = error["type"], error["message"], error.get("details") or {}
    except (ValueError, KeyError, TypeError):
        text = body[:200].decode("utf-8", "replace")
        return errors.RemliteError(f"HTTP {status} from the remlite server: {text}")
    cls = getattr(errors, kind, None) or getattr(keys, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, errors.RemliteError)):
        cls = errors.RemliteError
    try:
        return cls(message, **details)
    except TypeError:  # details its constructor does not take (a batch's `record`): same class, same details
        error = cls.__new__(cls)
        errors.RemliteError.__init__(error, message, **details)
        for name, value in details.items():
            if not hasattr(error, name):
                setattr(error, name, value)
        return error
