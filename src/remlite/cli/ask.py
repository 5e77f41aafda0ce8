"""`remlite ask`: the twin of `Database.ask` (and, with `--plan`, `Database.plan`)."""

from typing import Annotated, Any

import typer

from . import output
from .common import DEFAULT_TENANT, JsonOption, PathOption, TenantOption, open_reader


def ask(
    question: Annotated[str, typer.Argument(help="A question in plain words.", show_default=False)],
    plan_only: Annotated[bool, typer.Option("--plan", help="Print the plan without running it.")] = False,
    planner: Annotated[
        str | None,
        typer.Option("--planner", help="rules (offline) or llm (default: llm when REMLITE_LLM_BASE_URL is set)."),
    ] = None,
    max_stages: Annotated[int, typer.Option("--max-stages", min=1, max=10, help="At most this many stages.")] = 3,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many rows.")] = 20,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Answer a question: plan it (lookups, filters, search, graph, moments) and run the plan."""
    with open_reader(path, tenant) as db:
        if plan_only:
            plan = db.plan(question, planner=planner, max_stages=max_stages)
            if as_json:
                output.emit_json(plan.to_dict())
            else:
                output.say(str(plan))
            return
        answer = db.ask(question, planner=planner, max_stages=max_stages)
    if as_json:
        output.emit_json(answer.to_dict())
        return
    shown = answer.rows[:limit]
    output.say(
        f"{answer.explanation} (confidence {answer.confidence:.2f}, {len(answer.rows)} row(s), "
        f"{answer.timings.get('total', 0):.1f} ms{', fallback' if answer.used_fallback else ''})"
    )
    if not shown:
        output.say("no answer")
        return
    output.print_table(output.records_table([_visible(r) for r in shown], with_table=any("_table" in r for r in shown)))
    if len(answer.rows) > limit:
        output.say(f"… {len(answer.rows) - limit} more (--limit)")


def _visible(row: dict[str, Any]) -> dict[str, Any]:
    """A row without the traversal's bookkeeping (paths and edges make the table unreadable)."""
    return {k: v for k, v in row.items() if k not in ("_path", "_edges", "_hits", "_depth", "_edge")}
