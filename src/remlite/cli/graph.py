"""Graph and time commands: `edge add|rm|list`, `traverse`, `path`, `moments`.

Twins of `Database.add_edge`, `remove_edge`, `edges`, `traverse` (`neighbors` with `--exact`),
`shortest_path` (`all_paths` with `--all`) and `moments`; errors are translated by `common.RemGroup`.
"""

from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from remlite.errors import InvalidInput, NotFound
from remlite.moments import parse_between

from . import output
from .common import DEFAULT_TENANT, JsonOption, PathOption, TenantOption, open_reader, open_writer, parse_json

IdArg = Annotated[str, typer.Argument(help="Record id (a UUID).", show_default=False)]
SrcArg = Annotated[str, typer.Argument(help="Id of the edge's source record.", show_default=False)]
DstArg = Annotated[str, typer.Argument(help="Id of the edge's target record.", show_default=False)]
TypeArg = Annotated[str, typer.Argument(help="Edge type, e.g. authored.", show_default=False)]
DirectionOption = Annotated[
    str, typer.Option("--direction", "-d", help="out (follow edges forwards), in (backwards) or both.")
]
TypesOption = Annotated[
    list[str] | None,
    typer.Option("--type", help="Only edges of this type (repeat for several).", show_default=False),
]

edge_app = typer.Typer(help="Add, remove and list typed edges between records.", no_args_is_help=True)


def _types(values: list[str] | None) -> list[str] | None:
    return values or None


def _edge_line(edge: dict[str, Any]) -> str:
    """One grep-able line per edge (two ids do not fit a table on a narrow terminal)."""
    props = f"  {output.cell(edge['properties'])}" if edge.get("properties") else ""
    return f"{edge['src']} -[{edge['type']}]-> {edge['dst']}{props}"


@edge_app.command("add")
def add(
    src: SrcArg,
    dst: DstArg,
    edge_type: TypeArg,
    props: Annotated[
        str | None, typer.Option("--props", help="Edge properties as a JSON object.", show_default=False)
    ] = None,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Add the edge SRC -[TYPE]-> DST (or replace its properties if it exists)."""
    properties = parse_json(props, "--props") if props is not None else None
    with open_writer(path, tenant) as db:
        edge = db.add_edge(src, dst, edge_type, properties)
    if as_json:
        output.emit_json(edge)
    else:
        output.say(f"{edge['src']} -[{edge['type']}]-> {edge['dst']}")


@edge_app.command("rm")
def rm(
    src: SrcArg,
    dst: DstArg,
    edge_type: TypeArg,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Remove the edge SRC -[TYPE]-> DST (exit 5 when there is none)."""
    with open_writer(path, tenant, create=False) as db:
        removed = db.remove_edge(src, dst, edge_type)
    if not removed:
        raise NotFound(f"no edge {src} -[{edge_type}]-> {dst}")
    if as_json:
        output.emit_json({"src": src, "dst": dst, "type": edge_type, "removed": True})
    else:
        output.say(f"removed {src} -[{edge_type}]-> {dst}")


@edge_app.command("list")
def list_(
    record_id: IdArg,
    direction: DirectionOption = "out",
    edge_type: TypesOption = None,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """List a record's edges: outgoing (default), incoming or both."""
    with open_reader(path, tenant) as db:
        edges = db.edges(record_id, direction=direction, type=_types(edge_type))
    if as_json:
        output.emit_jsonl(edges)
    else:
        for edge in edges:
            output.say(_edge_line(edge))


def _label(record: dict[str, Any]) -> Any:
    for name in ("name", "title", "key", "uri"):
        if record.get(name) not in (None, ""):
            return record[name]
    return None


def traverse(
    record_id: IdArg,
    depth: Annotated[int, typer.Option("--depth", min=0, help="At most this many edges from the start.")] = 2,
    direction: DirectionOption = "out",
    edge_type: TypesOption = None,
    mode: Annotated[str, typer.Option("--mode", help="bfs (by distance) or dfs (depth-first order).")] = "bfs",
    exact: Annotated[
        bool, typer.Option("--exact", help="Only the records exactly --depth edges away (db.neighbors).")
    ] = False,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """List the records reachable from a record, each once, with its depth and path."""
    with open_reader(path, tenant) as db:
        if exact:
            records = db.neighbors(record_id, depth=depth, direction=direction, type=_types(edge_type))
        else:
            records = db.traverse(record_id, depth=depth, direction=direction, type=_types(edge_type), mode=mode)
    if as_json:
        output.emit_jsonl(records)
        return
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("depth", "via", "table", "id", "name"):
        table.add_column(name, no_wrap=True, overflow="ellipsis", max_width=60, min_width=12 if name == "name" else 4)
    for record in records:
        table.add_row(
            str(record["_depth"]),
            output.cell(record["_edge"]),
            output.cell(record["_table"]),
            output.cell(record["id"]),
            output.cell(_label(record)),
        )
    output.print_table(table)


def path_(
    src: SrcArg,
    dst: DstArg,
    direction: DirectionOption = "out",
    edge_type: TypesOption = None,
    all_paths: Annotated[
        bool, typer.Option("--all", help="Every simple path up to --max-depth edges (db.all_paths).")
    ] = False,
    max_depth: Annotated[int, typer.Option("--max-depth", min=0, help="With --all: at most this many edges.")] = 4,
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", min=1, help="With --all: at most this many paths.", show_default=False),
    ] = None,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Print a shortest path from SRC to DST (exit 5 if there is none), or every path with --all."""
    types = _types(edge_type)
    with open_reader(path, tenant) as db:
        if all_paths:
            found = db.all_paths(src, dst, max_depth, direction=direction, type=types, limit=limit)
        else:
            shortest = db.shortest_path(src, dst, direction=direction, type=types)
            if not shortest:
                raise NotFound(f"no path from {src} to {dst} (direction {direction})")
            found = [shortest]
    if as_json:
        output.emit_jsonl({"path": p, "length": len(p) - 1} for p in found)
    else:
        for p in found:
            output.say(" -> ".join(p))


def moments(
    since: Annotated[
        str | None,
        typer.Option("--since", help="Start of the window: 7d, 12h, a date, ISO time, now.", show_default=False),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="End of the window (a date means its end).", show_default=False)
    ] = None,
    between: Annotated[
        str | None,
        typer.Option("--between", help="START..END, e.g. 2025-10-01..2025-10-31.", show_default=False),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Has this tag (repeat: all of them).", show_default=False)
    ] = None,
    person: Annotated[
        list[str] | None, typer.Option("--person", help="Has this person (repeat: all of them).", show_default=False)
    ] = None,
    moment_type: Annotated[
        str | None, typer.Option("--type", help="Only moments of this moment_type.", show_default=False)
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=0, help="At most this many moments.", show_default=False)
    ] = None,
    table: Annotated[str, typer.Option("--table", help="A table shaped like moments.")] = "moments",
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """List the moments overlapping a time window, in start_time order."""
    if between is not None:
        if since is not None or until is not None:
            raise InvalidInput("give --between, or --since/--until, not both")
        since_ts, until_ts = parse_between(between)
        low: Any = since_ts.to_datetime()
        high: Any = until_ts.to_datetime()
    else:
        low, high = since, until
    with open_reader(path, tenant) as db:
        found = db.moments(low, high, tags=tag or None, people=person or None, moment_type=moment_type,
                           limit=limit, table=table)  # fmt: skip
    if as_json:
        output.emit_jsonl(found)
        return
    view = Table(box=box.SIMPLE_HEAD)
    for name in ("start_time", "end_time", "name", "moment_type", "tags", "people", "id"):
        view.add_column(name, no_wrap=True, overflow="ellipsis", max_width=40, min_width=12 if name == "name" else 4)
    for record in found:
        view.add_row(
            *(output.cell(record.get(n)) for n in ("start_time", "end_time", "name", "moment_type", "tags", "people")),
            output.cell(record.get("id")),
        )
    output.print_table(view)
