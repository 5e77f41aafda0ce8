#!/usr/bin/env bash
# End-to-end demo on the embedded default database (REMLITE_PATH, set by `make demo` to ./.remlite-demo).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "remlite init  (creates the database and the built-in REM tables)"
remlite init

step "remlite schema add examples/tasks.yaml  (a table upserted on 'name', indexed on status/priority/due)"
remlite schema add "$here/tasks.yaml"

step "remlite insert tasks --batch < examples/tasks.jsonl"
remlite insert tasks --batch < "$here/tasks.jsonl"

step "upsert: inserting an existing name replaces that record instead of duplicating it"
remlite insert tasks '{"name": "build the rem CLI", "status": "done", "priority": 7, "owner": "bo"}'

step "remlite lookup 'build the rem CLI'  (global natural-key index, across tables)"
remlite lookup "build the rem CLI"

step "remlite list tasks"
remlite list tasks

step "queries through the library: index lookups and ranges"
"${PYTHON:-python}" "$here/demo_queries.py"

step "SQL: remlite query (indexes for WHERE/ORDER BY, DuckDB for aggregates)"
remlite query "SELECT status, COUNT(*) AS n, AVG(priority) AS avg_priority FROM tasks GROUP BY status ORDER BY n DESC"
remlite query "SELECT name, priority FROM tasks WHERE priority >= 7 ORDER BY priority DESC LIMIT 3"
remlite query --explain "SELECT name, priority FROM tasks WHERE priority >= 7 ORDER BY priority DESC LIMIT 3"

step "semantic search: resources are embedded on write by a local model shipped in a package (offline)"
remlite insert resources --batch < "$here/resources.jsonl"
remlite search "I forgot my login credentials" --table resources --k 2
remlite search "money back" --table resources --k 2 --mode hybrid --where "category = 'billing'"

step "remlite ask: questions in plain words, planned offline (lookups, filters, search, graph, moments)"
remlite ask "open tasks with priority over 5" --plan
remlite ask "open tasks with priority over 5"
remlite ask "build the rem cli"

step "remlite count tasks; remlite schema list"
remlite count tasks
remlite schema list

step "remlite wal --after 6 --limit 3  (the change log replication builds on)"
remlite wal --after 6 --limit 3 --json | cut -c1-160

step "remlite check  (indexes, counters and lookup keys agree with the rows)"
remlite check

step "operations: a consistent online backup, a Parquet export with typed columns, sizes per table"
ops="$(mktemp -d)"
remlite backup "$ops/backup"
remlite export tasks --output "$ops/tasks.parquet"
remlite stats
rm -rf "$ops"
