"""Differential test: generated queries over generated rows, remlite against DuckDB run directly.

The same seeded rows go into remlite (JSON records, some fields indexed, one nested object) and into
a plain typed DuckDB table. Each generated query is written twice from one tree — in remlite's
dialect and in DuckDB's — and must give the same rows (in order when it has ORDER BY; numbers
within 1e-9). Every query runs through remlite three ways: as planned (index scans, index order,
column cache + DuckDB), with indexes off (column cache + DuckDB), and with the cache off
(Python executor), so both executors are held to the same reference.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

import remlite
from tests.plans import kinds, ran

SEED = 20251125
N_ITEMS, N_OTHERS = 300, 40
QUERIES = {"select": 150, "aggregate": 90, "join": 60}
BASE = datetime(2024, 1, 1, tzinfo=UTC)
WORDS = ["alpha", "beta", "Gamma", "delta", "épée", "zeta", "a%b", "a_b", "", "Beta", "eta"]

ITEMS_SCHEMA = {
    "name": "items",
    "type": "object",
    "properties": {
        "i": {"type": "integer"},
        "a": {"type": ["integer", "null"]},
        "b": {"type": ["number", "null"]},
        "s": {"type": ["string", "null"]},
        "t": {"type": ["string", "null"]},
        "f": {"type": ["boolean", "null"]},
        "ts": {"type": ["string", "null"], "format": "date-time"},
        "meta": {
            "type": ["object", "null"],
            "properties": {"x": {"type": ["integer", "null"]}, "y": {"type": ["string", "null"]}},
        },
    },
    "required": ["i"],
    "indexed_fields": ["i", "a", "s", "ts", "meta.x"],
}
OTHERS_SCHEMA = {
    "name": "others",
    "type": "object",
    "properties": {"j": {"type": "integer"}, "a": {"type": ["integer", "null"]}, "label": {"type": ["string", "null"]}},
    "required": ["j"],
    "indexed_fields": ["a"],
}


def maybe(rng: random.Random, value: Any, p_null: float = 0.15) -> Any:
    return None if rng.random() < p_null else value


def generate(rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    items = []
    for i in range(N_ITEMS):
        ts = BASE + timedelta(minutes=rng.randrange(366 * 24 * 60))
        record: dict[str, Any] = {
            "i": i,
            "a": maybe(rng, rng.randint(-5, 5)),
            "b": maybe(rng, round(rng.uniform(-5, 5), 2)),
            "s": maybe(rng, rng.choice(WORDS)),
            "t": maybe(rng, " ".join(rng.choice(WORDS[:6]) for _ in range(rng.randint(1, 3)))),
            "f": maybe(rng, rng.random() < 0.5),
            "ts": maybe(rng, ts.strftime("%Y-%m-%dT%H:%M:%SZ")),
        }
        if rng.random() < 0.8:
            record["meta"] = {"x": maybe(rng, rng.randint(-3, 3)), "y": maybe(rng, rng.choice(WORDS))}
        items.append(record)
    others = [
        {"j": j, "a": maybe(rng, rng.randint(-5, 5)), "label": maybe(rng, rng.choice(WORDS))} for j in range(N_OTHERS)
    ]
    return items, others


# --------------------------------------------------------------------------- query generation
@dataclass
class Field:
    names: list[str]  # remlite spellings
    ref: str  # DuckDB column
    kind: str  # int float str bool ts
    table: str = "items"


ITEM_FIELDS = [
    Field(["i"], "i", "int"),
    Field(["a"], "a", "int"),
    Field(["b"], "b", "float"),
    Field(["s"], "s", "str"),
    Field(["t"], "t", "str"),
    Field(["f"], "f", "bool"),
    Field(["ts"], "ts", "ts"),
    Field(["meta.x", "meta->>'x'", "meta->'x'"], "meta_x", "int"),
    Field(["meta.y", "meta->>'y'"], "meta_y", "str"),
]
OTHER_FIELDS = [
    Field(["j"], "j", "int", "others"),
    Field(["a"], "a", "int", "others"),
    Field(["label"], "label", "str", "others"),
]
Pair = tuple[str, str]


class Gen:
    def __init__(self, rng: random.Random, qualify: bool = False) -> None:
        self.rng = rng
        self.qualify = qualify

    def col(self, field: Field) -> Pair:
        name = self.rng.choice(field.names)
        if self.qualify:
            return f"{field.table}.{name}", f"{field.table}.{field.ref}"
        return name, field.ref

    def lit(self, kind: str) -> Pair:
        rng = self.rng
        if kind == "int":
            v = str(rng.randint(-6, 6))
            return v, v
        if kind == "float":
            v = f"{rng.uniform(-5, 5):.2f}"
            return v, v
        if kind == "str":
            v = "'" + rng.choice([*WORDS, "gamma", "b"]).replace("'", "''") + "'"
            return v, v
        if kind == "bool":
            v = rng.choice(["true", "false"])
            return v, v
        moment = BASE + timedelta(days=rng.randrange(366), hours=rng.randrange(24))
        return f"'{moment.strftime('%Y-%m-%dT%H:%M:%SZ')}'", f"TIMESTAMP '{moment.strftime('%Y-%m-%d %H:%M:%S')}'"

    def predicate(self, fields: list[Field]) -> Pair:
        rng = self.rng
        field = rng.choice(fields)
        c, r = self.col(field)
        kind = field.kind
        choice = rng.random()
        if kind == "bool" and choice < 0.5:
            return rng.choice([(c, r), (f"NOT {c}", f"NOT {r}"), (f"{c} = true", f"{r} = true")])
        if choice < 0.35:
            op = rng.choice(["=", "!=", "<>", "<", "<=", ">", ">="])
            lc, lr = self.lit(kind)
            return (f"{c} {op} {lc}", f"{r} {op} {lr}") if rng.random() < 0.8 else (f"{lc} {op} {c}", f"{lr} {op} {r}")
        if choice < 0.45:
            (l1, r1), (l2, r2) = self.lit(kind), self.lit(kind)
            word = rng.choice(["BETWEEN", "NOT BETWEEN"])
            return f"{c} {word} {l1} AND {l2}", f"{r} {word} {r1} AND {r2}"
        if choice < 0.57:
            values = [self.lit(kind) for _ in range(rng.randint(1, 4))]
            if rng.random() < 0.15:
                values.append(("NULL", "NULL"))
            word = rng.choice(["IN", "NOT IN"])
            return (
                f"{c} {word} ({', '.join(v[0] for v in values)})",
                f"{r} {word} ({', '.join(v[1] for v in values)})",
            )
        if choice < 0.67:
            word = rng.choice(["IS NULL", "IS NOT NULL"])
            return f"{c} {word}", f"{r} {word}"
        if kind == "str" and choice < 0.82:
            pattern = rng.choice(["a%", "%a%", "_eta", "%\\%%", "%\\_b", "G%", "%", "é%", "beta"])
            word = rng.choice(["LIKE", "NOT LIKE", "ILIKE"])
            return f"{c} {word} '{pattern}'", f"{r} {word} '{pattern}' ESCAPE '\\'"
        if kind in ("int", "float") and choice < 0.9:
            c = f"({c})" if "->" in c else c  # ->> binds looser than + (as in PostgreSQL)
            n = rng.randint(1, 4)
            op = rng.choice(["+", "-", "*", "%", "/"])
            lc, lr = self.lit("int")
            cmp = rng.choice(["<", ">=", "=", "<>"])
            return f"{c} {op} {n} {cmp} {lc}", f"{r} {op} {n} {cmp} {lr}"
        if kind == "str":
            fn = rng.choice(["lower", "upper", "length"])
            if fn == "length":
                lc, lr = self.lit("int")
                return f"length({c}) > {lc}", f"length({r}) > {lr}"
            return f"{fn}({c}) = 'GAMMA'", f"{fn}({r}) = 'GAMMA'"
        if kind in ("int", "float"):
            other = rng.choice([f for f in fields if f.kind in ("int", "float")])
            oc, orf = self.col(other)
            op = rng.choice(["<", "=", ">="])
            return f"{c} {op} {oc}", f"{r} {op} {orf}"
        lc, lr = self.lit(kind)
        return f"coalesce({c}, {lc}) = {lc}", f"coalesce({r}, {lr}) = {lr}"

    def where(self, fields: list[Field], depth: int = 0) -> Pair:
        rng = self.rng
        roll = rng.random()
        if depth >= 3 or roll < 0.4:
            return self.predicate(fields)
        if roll < 0.55:
            c, r = self.where(fields, depth + 1)
            return f"NOT ({c})", f"NOT ({r})"
        word = rng.choice(["AND", "OR"])
        (c1, r1), (c2, r2) = self.where(fields, depth + 1), self.where(fields, depth + 1)
        return f"({c1} {word} {c2})", f"({r1} {word} {r2})"

    def order(self, fields: list[Field], tiebreak: list[Pair]) -> tuple[Pair, list[str]]:
        rng = self.rng
        keys, kinds = [], []
        for field in rng.sample(fields, rng.randint(0, 2)):
            c, r = self.col(field)
            direction = rng.choice(["", " ASC", " DESC"])
            nulls = rng.choice(["", " NULLS FIRST", " NULLS LAST"])
            default = " NULLS FIRST" if direction == " DESC" else " NULLS LAST"
            keys.append((f"{c}{direction}{nulls}", f"{r}{direction}{nulls or default}"))
            kinds.append(field.kind)
        keys += tiebreak
        return (", ".join(k[0] for k in keys), ", ".join(k[1] for k in keys)), kinds


@dataclass
class Case:
    kind: str
    remlite: str
    ref: str
    ordered: bool


def paging(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.4:
        return ""
    out = f" LIMIT {rng.randint(0, 40)}"
    return out + (f" OFFSET {rng.randint(1, 20)}" if rng.random() < 0.3 else "")


def cases() -> Iterator[Case]:
    rng = random.Random(SEED + 1)
    gen = Gen(rng)
    for _ in range(QUERIES["select"]):
        (wc, wr) = gen.where(ITEM_FIELDS)
        shown = rng.sample(ITEM_FIELDS[1:], rng.randint(1, 3))
        cols = [gen.col(f) for f in shown]
        exprs = [("a + 1", "a + 1"), ("lower(s)", "lower(s)"), ("b * 2", "b * 2"), ("coalesce(a, 0)", "coalesce(a, 0)")]
        if rng.random() < 0.3:
            cols.append(rng.choice(exprs))
        select_c = ", ".join(["i", *(c for c, _ in cols)])
        select_r = ", ".join(["i", *(r for _, r in cols)])
        ordered = rng.random() < 0.7
        order = ""
        if ordered:
            (oc, orr), _ = gen.order(ITEM_FIELDS[1:], [("i", "i")])
            order = (f" ORDER BY {oc}", f" ORDER BY {orr}")
        page = paging(rng) if ordered else ""
        remlite_sql = f"SELECT {select_c} FROM items WHERE {wc}{order[0] if order else ''}{page}"
        ref_sql = f"SELECT {select_r} FROM items WHERE {wr}{order[1] if order else ''}{page}"
        yield Case("select", remlite_sql, ref_sql, ordered)
    groupable = [f for f in ITEM_FIELDS if f.kind in ("int", "str", "bool")]
    for _ in range(QUERIES["aggregate"]):
        use_where = rng.random() < 0.8
        wc, wr = gen.where(ITEM_FIELDS) if use_where else ("", "")
        where_c, where_r = (f" WHERE {wc}", f" WHERE {wr}") if use_where else ("", "")
        aggs = [("COUNT(*)", "COUNT(*)")]
        counted = rng.choice(ITEM_FIELDS[1:])
        cc, cr = gen.col(counted)
        aggs += [(f"COUNT({cc})", f"COUNT({cr})"), (f"COUNT(DISTINCT {cc})", f"COUNT(DISTINCT {cr})")]
        aggs += [("SUM(a)", "SUM(a)"), ("AVG(b)", "AVG(b)"), ("MIN(s)", "MIN(s)"), ("MAX(ts)", "MAX(ts)")]
        aggs += [("SUM(a * 2 + 1)", "SUM(a * 2 + 1)"), ("MAX(meta.x)", "MAX(meta_x)")]
        picked = rng.sample(aggs, rng.randint(1, 4))
        if rng.random() < 0.75:
            group = rng.choice(groupable)
            gc, gr = gen.col(group)
            having = ("", "")
            if rng.random() < 0.3:
                k = rng.randint(1, 30)
                having = (f" HAVING COUNT(*) > {k}", f" HAVING COUNT(*) > {k}")
            direction = rng.choice(["", " DESC"])
            nulls = " NULLS FIRST" if direction else " NULLS LAST"
            remlite_sql = (
                f"SELECT {gc} AS g, {', '.join(p[0] for p in picked)} FROM items{where_c} GROUP BY {gc}"
                f"{having[0]} ORDER BY {gc}{direction}"
            )
            ref_sql = (
                f"SELECT {gr} AS g, {', '.join(p[1] for p in picked)} FROM items{where_r} GROUP BY {gr}"
                f"{having[1]} ORDER BY {gr}{direction}{nulls}"
            )
            yield Case("aggregate", remlite_sql, ref_sql, True)
        else:
            remlite_sql = f"SELECT {', '.join(p[0] for p in picked)} FROM items{where_c}"
            ref_sql = f"SELECT {', '.join(p[1] for p in picked)} FROM items{where_r}"
            yield Case("aggregate", remlite_sql, ref_sql, False)
    qualified = Gen(rng, qualify=True)
    for _ in range(QUERIES["join"]):
        side = rng.choice(["JOIN", "LEFT JOIN", "INNER JOIN"])
        fields = ITEM_FIELDS + (OTHER_FIELDS if side != "LEFT JOIN" or rng.random() < 0.5 else [])
        wc, wr = qualified.where(fields)
        on = rng.choice(
            [("others.a = items.a", "others.a = items.a"), ("others.j = items.meta.x", "others.j = items.meta_x")]
        )
        page = paging(rng)
        remlite_sql = (
            f"SELECT items.i, others.j FROM items {side} others ON {on[0]} WHERE {wc} ORDER BY items.i, others.j{page}"
        )
        ref_sql = (
            f"SELECT items.i, others.j FROM items {side} others ON {on[1]} WHERE {wr} "
            f"ORDER BY items.i, others.j NULLS LAST{page}"
        )
        yield Case("join", remlite_sql, ref_sql, True)


CASES = list(cases())


# --------------------------------------------------------------------------- fixtures and comparison
@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[remlite.Database, Any]]:
    items, others = generate(random.Random(SEED))
    db = remlite.connect(Path(tmp_path_factory.mktemp("diff")) / "db")
    db.register_schema(ITEMS_SCHEMA)
    db.register_schema(OTHERS_SCHEMA)
    db.insert_batch("items", items)
    db.insert_batch("others", others)
    ref = duckdb.connect()
    ref.execute(
        "CREATE TABLE items(i BIGINT, a BIGINT, b DOUBLE, s VARCHAR, t VARCHAR, f BOOLEAN, ts TIMESTAMP, "
        "meta_x BIGINT, meta_y VARCHAR)"
    )
    ref.executemany(
        "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r["i"],
                r["a"],
                r["b"],
                r["s"],
                r["t"],
                r["f"],
                None if r["ts"] is None else datetime.fromisoformat(r["ts"]).replace(tzinfo=None),
                (r.get("meta") or {}).get("x"),
                (r.get("meta") or {}).get("y"),
            )
            for r in items
        ],
    )
    ref.execute("CREATE TABLE others(j BIGINT, a BIGINT, label VARCHAR)")
    ref.executemany("INSERT INTO others VALUES (?, ?, ?)", [(o["j"], o["a"], o["label"]) for o in others])
    yield db, ref
    ref.close()
    db.close()


def norm(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="seconds")
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        return datetime.fromisoformat(value).replace(tzinfo=None).isoformat(timespec="seconds")
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return value
    return value


def same(a: Any, b: Any) -> bool:
    if (
        isinstance(a, (int, float))
        and isinstance(b, (int, float))
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return norm(a) == norm(b)


def rows_equal(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]], ordered: bool) -> bool:
    if not ordered:
        key: Callable[[tuple[Any, ...]], Any] = lambda row: [(v is None, str(norm(v))) for v in row]  # noqa: E731
        got, want = sorted(got, key=key), sorted(want, key=key)
    return len(got) == len(want) and all(
        len(g) == len(w) and all(same(x, y) for x, y in zip(g, w, strict=True)) for g, w in zip(got, want, strict=True)
    )


CONFIGS = {"planned": (True, True), "no-index": (False, True), "python": (True, False)}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_generated_queries_match_duckdb(loaded: tuple[remlite.Database, Any], config: str) -> None:
    db, ref = loaded
    engine = db._sql.engine()
    engine.use_indexes, engine.use_cache = CONFIGS[config]
    failures = []
    try:
        for case in CASES:
            want = ref.execute(case.ref).fetchall()
            result = db.sql(case.remlite)
            got = [tuple(row[c] for c in result.columns) for row in result.rows]
            if not rows_equal(got, want, case.ordered):
                failures.append(
                    f"{case.remlite}\n  ref: {case.ref}\n  got {got[:6]} ({len(got)})\n  want {want[:6]} ({len(want)})"
                )
    finally:
        engine.use_indexes, engine.use_cache = True, True
    assert not failures, f"{len(failures)} of {len(CASES)} differ:\n" + "\n".join(failures[:8])


def test_the_generator_covers_every_plan(loaded: tuple[remlite.Database, Any]) -> None:
    """The generated queries exercise index scans, index order and the column cache + DuckDB."""
    db, _ = loaded
    seen: set[str] = set()
    for case in CASES[:200]:
        seen |= set(kinds(db, case.remlite))
    for sql, _, limit, offset in sample_cases()[:20]:
        seen |= set(kinds(db, f"{sql} LIMIT {limit} OFFSET {offset}"))
    wanted = {"index_candidates", "stream_ids", "index_order", "column_cache", "duckdb", "scan"}
    assert wanted <= seen, wanted - seen


def sample_cases() -> list[tuple[str, str, int, int]]:
    """LIMIT without ORDER BY over index equalities (the id-ordered stream): any `limit` matching
    rows are right, so each case is (remlite SQL, DuckDB SQL of every match, limit, offset)."""
    rng = random.Random(SEED + 2)
    atoms = [
        lambda: (f"a = {rng.randint(-5, 5)}",) * 2,
        lambda: (f"s = '{rng.choice(WORDS[:6])}'",) * 2,
        lambda: (f"meta.x = {rng.randint(-3, 3)}", f"meta_x = {rng.randint(-3, 3)}"),
        lambda: (f"a IN ({rng.randint(-5, 5)}, {rng.randint(-5, 5)})",) * 2,
        lambda: (f"i = {rng.randrange(N_ITEMS)}",) * 2,
    ]
    out = []
    for _ in range(60):
        parts = [rng.choice(atoms)() for _ in range(rng.randint(1, 3))]
        parts = [(c, r) if "meta" not in c else (c, c.replace("meta.x", "meta_x")) for c, r in parts]
        glue = rng.choice([" AND ", " OR "])
        wc, wr = glue.join(c for c, _ in parts), glue.join(r for _, r in parts)
        if rng.random() < 0.3:  # a condition no index answers: re-checked on the fetched rows
            wc, wr = f"({wc}) AND b > 0", f"({wr}) AND b > 0"
        limit, offset = rng.randint(1, 30), rng.choice([0, 0, rng.randint(1, 40)])
        out.append((f"SELECT i, a, s FROM items WHERE {wc}", f"SELECT i, a, s FROM items WHERE {wr}", limit, offset))
    return out


@pytest.mark.parametrize("config", list(CONFIGS))
def test_limit_without_order_matches_duckdb(loaded: tuple[remlite.Database, Any], config: str) -> None:
    """Each configuration returns min(limit, matches - offset) distinct matching rows."""
    db, ref = loaded
    engine = db._sql.engine()
    engine.use_indexes, engine.use_cache = CONFIGS[config]
    streamed = 0
    try:
        for remlite_sql, ref_sql, limit, offset in sample_cases():
            matches = {tuple(row) for row in ref.execute(ref_sql).fetchall()}
            sql = f"{remlite_sql} LIMIT {limit} OFFSET {offset}"
            result = db.sql(sql)
            got = [(row["i"], row["a"], row["s"]) for row in result.rows]
            assert len(got) == max(0, min(limit, len(matches) - offset)), sql
            assert set(got) <= matches and len(set(got)) == len(got), sql
            streamed += "stream_ids" in ran(result)
    finally:
        engine.use_indexes, engine.use_cache = True, True
    assert streamed == 0 if config == "no-index" else streamed > 20
