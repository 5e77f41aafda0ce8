"""Child process for the crash tests: writes batches forever, printing 'ack N' after each returns."""

from __future__ import annotations

import sys

import remlite

SCHEMA = {
    "name": "crash",
    "properties": {
        "key": {"type": "string"},
        "batch": {"type": "integer"},
        "slot": {"type": "integer"},
        "state": {"type": "string"},
    },
    "required": ["key", "batch"],
    "key_field": "key",
    "indexed_fields": ["batch", "state"],
}


def main(root: str, first_batch: int, batch_size: int) -> None:
    db = remlite.connect(root)
    db.register_schema(SCHEMA)
    batch = first_batch
    while True:
        rows = [{"key": f"b{batch}-{i}", "batch": batch, "slot": i, "state": "new"} for i in range(batch_size)]
        ids = db.insert_batch("crash", rows)
        if batch % 3 == 0:
            db.update(ids[0], {"state": "updated"})
        if batch % 5 == 0:
            db.delete(ids[1])
        print(f"ack {batch}", flush=True)
        batch += 1


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
