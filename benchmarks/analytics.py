"""Phase 2.2 of the reference plan: the analytics workload, the document's two SQL queries verbatim
and their friends, on 10k and 100k entities, with stdlib sqlite3 and DuckDB in the same run.

Run: `.venv/bin/python benchmarks/analytics.py [--smoke|--quick|--full] [--profile] [--no-peers]`.

Data: fixtures entities_10k/100k.jsonl and their owners (benchmarks/sql.py's seeded generator).
remlite and sqlite3 are benchmarks/sql.py's engines and queries (`sql.Remlite`, `sql.Sqlite`,
`sql.measure`, `sql.check_same`): remlite runs

    SELECT type, COUNT(*), AVG(properties->>'priority') FROM entities
    WHERE created_at > '2025-01-01' GROUP BY type;
    SELECT * FROM entities WHERE properties->>'status' = 'active'
      AND properties->>'priority' > 3 ORDER BY created_at DESC LIMIT 100;

as written in the document, plus an indexed equality, an indexed range with ORDER BY + LIMIT, a
full-scan filter on two unindexed fields and a two-table join. The DuckDB peer is what a user who
picks DuckDB for analytics does: `read_json_auto` of the same JSONL files into in-memory tables
(typed columns), a view `entities` (items and owners with a `type` column), the same queries on
columns; `fetchall()` of tuples. Every engine's answers are checked against remlite's first.
The document's figures: §6 for 10k (indexed equality, full scan + filter), Phase 2.2 (derived:
5-10x faster than Python) for 100k.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import fixtures
import plan
import sql
from harness import temp_dir
from plan import Measure, Scenario

DUCK = {
    "eq": "SELECT * FROM items WHERE category = ?",
    "range": "SELECT * FROM items WHERE score >= ? ORDER BY score LIMIT 20",
    "scan": "SELECT * FROM items WHERE color = ? AND size > ?",
    "group": "SELECT type, COUNT(*), AVG(priority) FROM entities WHERE created_at > '2025-01-01' GROUP BY type",
    "filter": "SELECT * FROM entities WHERE status = 'active' AND priority > 3 ORDER BY created_at DESC LIMIT 100",
    "join": "SELECT i.name, i.priority, o.name AS owner FROM items i JOIN owners o ON o.id = i.owner_id "
    "WHERE o.region = ? ORDER BY i.priority DESC, i.name LIMIT 50",
}


class DuckDB:
    """DuckDB in memory, loaded from the fixture files as its users load JSON."""

    def __init__(self, n: int) -> None:
        import duckdb

        items = fixtures.entities_path(n)
        owners = items.parent / f"owners_{fixtures.label(n)}.jsonl"
        self.con = duckdb.connect(":memory:")
        self.con.execute(
            "CREATE TABLE owners AS SELECT name AS id, name, region, CAST(created_at AS VARCHAR) AS created_at "
            f"FROM read_json_auto('{owners}')"
        )
        self.con.execute(
            "CREATE TABLE items AS SELECT * EXCLUDE (owner, created_at), "
            "'owner-' || lpad(CAST(owner AS VARCHAR), 5, '0') AS owner_id, "
            f"CAST(created_at AS VARCHAR) AS created_at FROM read_json_auto('{items}', format='newline_delimited')"
        )
        self.con.execute(
            "CREATE VIEW entities AS SELECT 'items' AS type, name, status, priority, created_at FROM items "
            "UNION ALL SELECT 'owners', name, NULL, NULL, created_at FROM owners"
        )

    def run(self, name: str, params: list[Any]) -> list[Any]:
        return self.con.execute(DUCK[name], params).fetchall()

    def close(self) -> None:
        self.con.close()


def check_duck(mine: sql.Remlite, duck: DuckDB, n: int) -> None:
    """DuckDB returns the same rows as remlite (counts, groups, the join's rows)."""
    for name in sql.QUERIES:
        params = sql.param_sets(n)[name]()
        ours, theirs = mine.run(name, params), duck.run(name, params)
        assert len(ours) == len(theirs), (name, len(ours), len(theirs))
        if name == "group":
            assert {r["type"]: r["count"] for r in ours} == {t: c for t, c, _ in theirs}, (ours, theirs)
        if name == "join":
            assert [(r["name"], r["priority"], r["owner"]) for r in ours] == [tuple(t) for t in theirs], name


def refs(name: str, n: int) -> str | None:
    if n <= 10_000:  # (--smoke's 1k too: its figures are for the report's structure only)
        return {"eq": "sql_eq", "scan": "sql_scan", "group": "sql_scan", "filter": "sql_scan"}.get(name)
    if n == 100_000:
        return {"scan": "analytics_100k", "group": "analytics_100k", "filter": "analytics_100k"}.get(name)
    return None


def body(s: Scenario) -> None:
    on = s.peers_on("sqlite3", "duckdb")
    quick = s.profile != "full"
    for n in s.pick([1_000], [10_000, 100_000], [10_000, 100_000]):
        items, owners = fixtures.entities(n), fixtures.owners(n)
        figures: dict[str, dict[str, Any]] = {}
        with temp_dir() as root:
            print(f"analytics {n:,}: loading ...", flush=True)
            mine = sql.Remlite(Path(root) / "remlite", items, owners)
            engines: dict[str, Any] = {}
            if on["sqlite3"]:
                engines["sqlite3"] = sql.Sqlite(Path(root) / "sqlite", items, owners)
                hits = sql.check_same(mine, engines["sqlite3"], n)
            else:
                hits = {name: len(mine.run(name, sql.param_sets(n)[name]())) for name in sql.QUERIES}
            if on["duckdb"]:
                engines["duckdb"] = DuckDB(n)
                check_duck(mine, engines["duckdb"], n)
            for name, engine in engines.items():  # one engine at a time
                print(f"analytics {n:,}: {name} ...", flush=True)
                figures[name] = sql.measure(engine, n, quick)
                engine.close()
            print(f"analytics {n:,}: remlite ...", flush=True)
            figures["remlite"] = sql.measure(mine, n, quick)
            cold = sql.cold_group(mine)
            mine.close()
        rows = []
        for name, label in sql.LABELS.items():
            theirs = {p: f[name].p50_ms for p, f in figures.items() if p != "remlite"}
            rows.append(Measure(f"{label} p50", "ms", figures["remlite"][name].p50_ms, False, refs(name, n), theirs,
                                note=f"{hits[name]} rows"))  # fmt: skip
            theirs95 = {p: f[name].p95_ms for p, f in figures.items() if p != "remlite"}
            rows.append(Measure(f"{label} p95", "ms", figures["remlite"][name].p95_ms, False, None, theirs95))
        rows.append(Measure("GROUP BY right after a write (column cache refill)", "ms", cold, False,
                            refs("group", n), {p: f["group"].p50_ms for p, f in figures.items() if p != "remlite"},
                            note="median of 3; the peers' steady p50"))  # fmt: skip
        s.table(f"2.2 analytics, {n:,} entities ({n:,} items + {max(1, n // 100):,} owners)", rows)
        s.raw[str(n)] = {p: {q: v.p50_ms for q, v in f.items()} for p, f in figures.items()}


def main(argv: list[str] | None = None) -> int:
    return plan.run("analytics", "Phase 2.2: analytics query workload", "2", body, argv)


if __name__ == "__main__":
    sys.exit(main())
