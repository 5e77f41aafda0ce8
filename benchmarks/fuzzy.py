"""Fuzzy lookup benchmark: `db.lookup(key, fuzzy=True)` on people-like records, and what the trigram
index costs a bulk load.

Run: `.venv/bin/python benchmarks/fuzzy.py [--sizes 10000,100000] [--quick] [--ingest 1000000] [--out FILE]`.

- Data: seeded people, `{"code": "EMP-012345", "name": "First Last"}` keyed by `code`, names drawn from
  80 first and 400 last names (so, as in real directories, many people share a first or a last name,
  and every code shares the grams of "EMP"), plus a few middle names.
- Queries, each timed over 200 different targets: `typo` (one letter of a full name replaced),
  `swap` (two adjacent letters of the last name swapped), `case` (the full name upper-cased),
  `last` (the last name only, a partial name), `first` (a first name with a typo), `code` (the code
  with a space for the dash, lower-cased).
- Peer: rapidfuzz's `process.extract` (WRatio, limit 10) over every name and code held in a Python
  list: no database, no index, all of it in memory — what a scan costs at best.
- `found@10`: the target record (for `last`: a record with that last name) is among the results.
- `--ingest N`: bulk-load N `benchmarks/crud.py` entities in 10k chunks (after 100k-row lists are
  generated), report rows/s and the directory's size after close (the project's budget: 1M entities
  in <= 40 s and <= 700 MB).
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any

from harness import Row, latency, parse_args, print_table, temp_dir, write_results

SEED = 20240917
QUERIES = 200
FIRST = [
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
    "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Oscar",
    "Peggy", "Trent", "Victor", "Walter", "Zoë", "Ångström", "José", "Chloé",
]  # fmt: skip
LAST_STEMS = ["John", "Smith", "Brown", "Will", "Jon", "Mill", "Dav", "Gar", "Rodr", "Mart", "Hern", "Lop",
              "Gonz", "Wils", "And", "Thom", "Tayl", "Moor", "Jack", "Whit", "Harr", "Clark", "Lew", "Robin",
              "Walk", "Young", "Allen", "King", "Wright", "Scott", "Torr", "Nguy", "Hill", "Flor", "Green",
              "Adams", "Nels", "Bak", "Hall", "Riv"]  # fmt: skip
LAST_ENDS = ["son", "s", "er", "ez", "ton", "ley", "man", "field", "berg", "ington"]


def names(count: int, rng: random.Random) -> list[str]:
    first = list(dict.fromkeys(FIRST + [f"{a}{b}" for a in ("Al", "Ma", "Jo", "Ka", "Li") for b in
                                        ("ice", "rie", "ssa", "na", "ra", "den", "bel", "mon")]))  # fmt: skip
    last = [stem + end for stem in LAST_STEMS for end in LAST_ENDS]
    out = []
    for _ in range(count):
        middle = f" {rng.choice(first)}" if rng.random() < 0.1 else ""
        out.append(f"{rng.choice(first)}{middle} {rng.choice(last)}")
    return out


def people(n: int) -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    return [{"code": f"EMP-{i:06d}", "name": name} for i, name in enumerate(names(n, rng))]


SCHEMA = {
    "name": "people",
    "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
    "required": ["code", "name"],
    "key_field": "code",
}


def _typo(text: str, rng: random.Random) -> str:
    positions = [i for i, c in enumerate(text) if c.isalpha()]
    i = rng.choice(positions[1:] or positions)
    return text[:i] + rng.choice("aeioustr".replace(text[i].lower(), "")) + text[i + 1 :]


def queries(records: list[dict[str, Any]]) -> dict[str, list[tuple[str, Any]]]:
    """(query, what counts as found) per kind: a record's code, or (for `last`) a last name."""
    rng = random.Random(SEED + 1)
    picks = rng.sample(records, QUERIES)
    out: dict[str, list[tuple[str, Any]]] = {k: [] for k in ("typo", "swap", "case", "last", "first", "code")}
    for r in picks:
        name, code = r["name"], r["code"]
        last = name.split()[-1]
        i = rng.randrange(1, len(last) - 1)
        swapped = last[:i] + last[i + 1] + last[i] + last[i + 2 :]
        out["typo"].append((_typo(name, rng), code))
        out["swap"].append((name.rsplit(" ", 1)[0] + " " + swapped, code))
        out["case"].append((name.upper(), code))
        out["last"].append((last, ("last", last)))
        out["first"].append((_typo(name.split()[0], rng), ("first", name.split()[0])))
        out["code"].append((code.replace("-", " ").lower(), code))
    return out


def _found(results: list[dict[str, Any]], want: Any) -> bool:
    if isinstance(want, tuple):
        kind, word = want
        return any((r["name"].split()[0] if kind == "first" else r["name"].split()[-1]) == word for r in results)
    return any(r["code"] == want for r in results)


def measure(n: int, quick: bool) -> tuple[list[Row], dict[str, Any]]:
    from rapidfuzz import fuzz, process

    import remlite

    records = people(n)
    asked = queries(records)
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    with temp_dir() as root:
        db = remlite.connect(root, "bench")
        db.register_schema(SCHEMA)
        start = time.perf_counter()
        db.insert_batch("people", records)
        load = n / (time.perf_counter() - start)
        db.lookup("warm up", fuzzy=True)  # the built-in tables' markers: read once
        choices = [r["name"] for r in records] + [r["code"] for r in records]
        for kind, items in asked.items():
            found = sum(_found(db.lookup(q, fuzzy=True), want) for q, want in items)
            it = iter(items * 50)
            timed = latency(lambda it=it: db.lookup(next(it)[0], fuzzy=True), 50 if quick else QUERIES, warmup=5)
            it2 = iter(items * 50)

            def scan(it2: Any = it2) -> Any:
                return process.extract(next(it2)[0], choices, scorer=fuzz.WRatio, limit=10)

            peer = latency(scan, 10 if quick else 30, warmup=2)
            note = f"found@10 {found}/{len(items)}; e.g. {items[0][0]!r}"
            rows.append(Row(f"{kind} p50", timed.p50_ms, peer.p50_ms, "ms", False, None, note))
            rows.append(Row(f"{kind} p95", timed.p95_ms, peer.p95_ms, "ms", False, None))
            raw[kind] = {"remlite": timed, "peer": peer, "found": found, "asked": len(items)}
        raw["load_rows_per_s"] = load
        db.close()
    return rows, raw


def ingest(n: int) -> dict[str, float]:
    """Bulk-load n crud entities (10k chunks) into a fresh database: rows/s and MB on disk after close."""
    import crud
    import remlite

    with temp_dir() as root:
        db = remlite.connect(root, "bench")
        db.register_schema(crud.SCHEMA)
        elapsed = 0.0
        for start in range(0, n, 100_000):
            chunk = crud.generate(min(100_000, n - start), start=start)
            began = time.perf_counter()
            db.insert_batch(crud.TABLE, chunk)
            elapsed += time.perf_counter() - began
        db.close()
        size = sum(f.stat().st_size for f in (root / "bench").rglob("*") if f.is_file())
    return {"rows": n, "seconds": elapsed, "rows_per_s": n / elapsed, "disk_mb": size / 1e6}


def main(argv: list[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    loads = 0
    if "--ingest" in args_in:
        at = args_in.index("--ingest")
        loads = int(args_in[at + 1])
        del args_in[at : at + 2]
    args = parse_args(__doc__.splitlines()[0], [10_000, 100_000], args_in)
    started = time.perf_counter()
    tables: dict[str, list[Row]] = {}
    raw: dict[str, Any] = {}
    for n in args.sizes:
        rows, raw[str(n)] = measure(n, args.quick)
        tables[str(n)] = rows
        print_table(f"fuzzy lookup, {n:,} people (loaded at {raw[str(n)]['load_rows_per_s']:,.0f} rows/s)", rows,
                    "rapidfuzz scan")  # fmt: skip
    if loads:
        raw["ingest"] = figures = ingest(loads)
        print(f"bulk load of {loads:,} crud entities: {figures['seconds']:.1f} s "
              f"({figures['rows_per_s']:,.0f} rows/s), {figures['disk_mb']:.0f} MB on disk after close")  # fmt: skip
    path = write_results("fuzzy", {"peer": "rapidfuzz scan", "sizes": args.sizes, "tables": tables, "raw": raw},
                         args.out)  # fmt: skip
    print(f"results: {path}  ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
