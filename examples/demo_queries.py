"""The library side of the demo: the same database, queried through `remlite.connect`."""

from rich.console import Console
from rich.table import Table

import remlite

console = Console()
with remlite.connect() as db:
    open_ids = db.find("tasks", "status", eq="open")
    urgent_ids = db.find("tasks", "priority", gte=7)
    soon_ids = db.find("tasks", "due", gte="2026-11-15T00:00:00Z", lt="2026-12-31T00:00:00Z")
    for title, ids in [
        ("status = 'open'", open_ids),
        ("priority >= 7 (index order)", urgent_ids),
        ("due between 2026-11-15 and 2026-12-31", soon_ids),
    ]:
        table = Table(title=title)
        for column in ("name", "status", "priority", "due"):
            table.add_column(column)
        for record in db.get_batch(ids):
            if record:
                table.add_row(record["name"], record["status"], str(record["priority"]), record.get("due") or "")
        console.print(table)
    console.print(f"tasks: {db.count('tasks')} rows; tables: {', '.join(s['name'] for s in db.schemas())}")
