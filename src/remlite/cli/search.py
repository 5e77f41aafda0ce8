"""Semantic commands: `search`, `reembed`, `index status`, `index rebuild`.

Twins of `Database.search`, `Database.reembed`, `Database.index_status` and
`Database.rebuild_index`; errors are translated by `common.RemGroup`.
"""

from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from remlite.database import connect

from . import output
from .common import DEFAULT_TENANT, JsonOption, PathOption, TenantOption, open_reader

TableOption = Annotated[str, typer.Option("--table", "-t", help="Table to search.", show_default=False)]
FieldOption = Annotated[
    str | None, typer.Option("--field", help="Embedding/text field (default: the first).", show_default=False)
]
index_app = typer.Typer(help="Inspect and rebuild vector and text indexes.", no_args_is_help=True)


def search(
    query: Annotated[str, typer.Argument(help="What to look for, in words.", show_default=False)],
    table: TableOption,
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="How many results.")] = 10,
    mode: Annotated[str, typer.Option("--mode", help="vector, text (BM25) or hybrid (both, fused).")] = "vector",
    where: Annotated[
        str | None,
        typer.Option(
            "--where", help="SQL filter applied before ranking, e.g. \"status = 'active'\".", show_default=False
        ),
    ] = None,
    min_score: Annotated[
        float | None, typer.Option("--min-score", help="Drop results scoring below this.", show_default=False)
    ] = None,
    field: FieldOption = None,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Search a table by meaning (vector), by words (text) or both (hybrid), best first."""
    with open_reader(path, tenant) as db:
        rows = db.search(table, query, k=k, mode=mode, where=where, min_score=min_score, field=field)
        info = db.schema(table)
    if as_json:
        output.emit_jsonl(rows)
        return
    if not rows:
        output.say("no results")
        return
    output.print_table(results_table(rows, info, field))


def results_table(rows: list[dict[str, Any]], info: dict[str, Any], field: str | None) -> Table:
    """Score, what the row is (title, name or key) and a snippet of the searched text."""
    keys = info["key_field"] if isinstance(info["key_field"], list) else [info["key_field"]]
    label = next((f for f in ("title", "name", *keys) if f and any(r.get(f) for r in rows)), None)
    text_field = field or next(iter(info["embedding_fields"] or info["text_fields"] or []), None)
    view = Table()
    view.add_column("score", justify="right")
    view.add_column(label or "id", overflow="fold", max_width=40)
    if text_field:
        view.add_column(text_field, overflow="fold")
    for row in rows:
        snippet = str(row.get(text_field) or "") if text_field else ""
        snippet = snippet if len(snippet) <= 160 else snippet[:157] + "..."
        cells = [f"{row['_score']:.4f}", str(row.get(label) if label else row["id"])]
        view.add_row(*cells, *([snippet] if text_field else []))
    return view


def reembed(
    table: Annotated[str, typer.Argument(help="Table whose vectors to recompute.", show_default=False)],
    field: FieldOption = None,
    provider: Annotated[
        str | None,
        typer.Option("--provider", help="local, openai or hash (default: REMLITE_EMBED_PROVIDER, else local)."),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model name for the provider.")] = None,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Re-embed a table's field into a new vector version; searches use the old one until it is done."""
    with connect(path, tenant, create=False) as db:
        total = db.count(table)
        columns: list[Any] = [TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
        with output.progress_bar(*columns) as bar:
            task = bar.add_task("embed", total=total)
            result = db.reembed(
                table, field, provider=provider, model=model, progress=lambda done, _t: bar.update(task, completed=done)
            )
    if as_json:
        output.emit_json(result)
    else:
        output.say(
            f"re-embedded {result['rows']} rows of {table}.{result['field']} with "
            f"{result['provider']}/{result['model']} ({result['dimension']}-d), now version {result['version']}"
        )


def index_status(
    table: Annotated[str | None, typer.Argument(help="Only this table.", show_default=False)] = None,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Show every vector and text index: provider, model, size, and how far behind the log it is."""
    with open_reader(path, tenant) as db:
        status = db.index_status(table)
    if as_json:
        output.emit_jsonl(status)
        return
    view = Table()
    for column in ("table", "field", "kind", "model", "dim", "version", "entries"):
        view.add_column(column)
    for row in status:
        vector = row["kind"] == "vector"
        view.add_row(
            row["table"],
            row["field"],
            row["kind"],
            f"{row.get('provider')}/{row.get('model')}" if vector and row.get("provider") else "",
            str(row.get("dimension") or ""),
            str(row.get("version", "")) if vector else "",
            str(row["vectors"] if vector else row.get("documents", "")),
        )
    output.print_table(view)


def index_rebuild(
    table: Annotated[str, typer.Argument(help="Table whose vector indexes to rebuild.", show_default=False)],
    field: FieldOption = None,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Rebuild a table's HNSW indexes from the stored vectors (the source of truth) and save them."""
    with connect(path, tenant, create=False) as db:
        done = db.rebuild_index(table, field)
    if as_json:
        output.emit_json(done)
    else:
        for name, count in done.items():
            output.say(f"{table}.{name}: {count} vectors indexed")


index_app.command("status")(index_status)
index_app.command("rebuild")(index_rebuild)
