"""Overlapping the stages of an export: a generator's items produced by a thread ahead of its consumer.

Why: an export's stages (the RocksDB scan, DuckDB's JSON parse, Arrow's Parquet writer) release the
GIL for much of their work, so on two cores they overlap when each runs in its own thread. A bounded
queue between them keeps memory bounded: at most `depth` + 2 items exist at once.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any


def ahead(items: Iterable[Any], depth: int = 1) -> Iterator[Any]:
    """`items`, produced by a thread up to `depth` ahead of the consumer; an error of the producer is
    raised in the consumer. Closing the generator stops the thread, which closes `items`."""
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if stop.is_set():
                    return
                slots.put(("item", item))
            slots.put(("end", None))
        except BaseException as exc:  # handed to the consumer, raised there
            slots.put(("error", exc))
        finally:  # a generator's own clean-up (its threads, connections) runs here, not whenever it is collected
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="remlite-export", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                slots.get(timeout=0.05)
        worker.join()
