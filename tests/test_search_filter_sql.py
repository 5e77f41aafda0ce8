"""`search(where=...)` is filtered by the SQL layer: a filter no index answers runs over the column
cache (which follows commits), not as a Python scan of every row, and admits exactly the rows the
same WHERE selects in SQL."""

from __future__ import annotations

import random
from typing import Any

import remlite

DOCS = {
    "name": "docs",
    "properties": {"body": {"type": "string"}, "color": {"type": "string"}, "size": {"type": "integer"}},
    "embedding_fields": ["body"],
}


def test_a_filter_no_index_covers_uses_the_column_cache(tmp_path: Any) -> None:
    rng = random.Random(1)
    words = ["alpha", "beta", "gamma", "delta"]
    with remlite.connect(tmp_path, embedder="hash") as db:
        db.register_schema(DOCS)
        rows = [
            {"body": " ".join(rng.choices(words, k=4)), "color": rng.choice("rgb"), "size": rng.randrange(9)}
            for _ in range(600)
        ]
        db.insert_batch("docs", rows)
        where = "color = 'r' AND size >= 5"
        admitted = {r["id"] for r in db.sql(f"SELECT id FROM docs WHERE {where}").rows}
        hits = db.search("docs", "alpha", k=500, where=where)
        assert hits and {h["id"] for h in hits} <= admitted
        assert len(hits) == len(admitted)  # k exceeds the matches: every admitted row is found
        builds = db._sql.engine().cache.builds
        new = db.insert("docs", {"body": "alpha alpha", "color": "r", "size": 8})
        assert new in {h["id"] for h in db.search("docs", "alpha", k=500, where=where)}
        assert db._sql.engine().cache.builds == builds  # followed the insert, no rescan
