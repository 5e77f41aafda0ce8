#!/usr/bin/env bash
# End-to-end demo on the embedded default database (REMDB_PATH, set by `make demo` to ./.remdb-demo).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "rem init  (creates the database and the built-in REM tables)"
rem init

step "rem schema add examples/tasks.yaml  (a table upserted on 'name', indexed on status/priority/due)"
rem schema add "$here/tasks.yaml"

step "rem insert tasks --batch < examples/tasks.jsonl"
rem insert tasks --batch < "$here/tasks.jsonl"

step "upsert: inserting an existing name replaces that record instead of duplicating it"
rem insert tasks '{"name": "build the rem CLI", "status": "done", "priority": 7, "owner": "bo"}'

step "rem lookup 'build the rem CLI'  (global natural-key index, across tables)"
rem lookup "build the rem CLI"

step "rem list tasks"
rem list tasks

step "queries through the library: index lookups and ranges"
"${PYTHON:-python}" "$here/demo_queries.py"

step "SQL: rem query (indexes for WHERE/ORDER BY, DuckDB for aggregates)"
rem query "SELECT status, COUNT(*) AS n, AVG(priority) AS avg_priority FROM tasks GROUP BY status ORDER BY n DESC"
rem query "SELECT name, priority FROM tasks WHERE priority >= 7 ORDER BY priority DESC LIMIT 3"
rem query --explain "SELECT name, priority FROM tasks WHERE priority >= 7 ORDER BY priority DESC LIMIT 3"

step "semantic search: resources are embedded on write by a local model shipped in a package (offline)"
rem insert resources --batch < "$here/resources.jsonl"
rem search "I forgot my login credentials" --table resources --k 2
rem search "money back" --table resources --k 2 --mode hybrid --where "category = 'billing'"

step "rem count tasks; rem schema list"
rem count tasks
rem schema list

step "rem wal --after 6 --limit 3  (the change log replication builds on)"
rem wal --after 6 --limit 3 --json | cut -c1-160

step "rem check  (indexes, counters and lookup keys agree with the rows)"
rem check
