"""Questions in plain words: answer accuracy, plan-shape accuracy and latency of `db.ask` on the labelled set.

Run: `.venv/bin/python benchmarks/nl_eval.py [--size small|10k] [--planner rules|llm|all] [--show-failures]
[--repeat N] [--out FILE]`.

Data and questions come from `nl_dataset.py` (built fresh in a temporary database, dates relative to
now). Each question is asked with `db.ask(text, planner=..., max_stages=3)` and judged by
`nl_dataset.scorer` (exact set, top 1, top 10 or all-expected-in, per kind); the plan shape is right
when the plan's stage kinds, in order, equal the question's `expected_stages` (or an accepted
alternative). Latency is per call, p50/p95 over every question x `--repeat` runs, after one untimed
pass (models and indexes loaded), for `db.plan` (planning alone) and `db.ask` (plan and run).

The `rules` planner always runs; the `llm` planner runs too when `REMLITE_LLM_BASE_URL` or
`OPENAI_BASE_URL` is set (or with `--planner llm|all`), timed once per question since each call is
a model request. Targets, printed beside the figures: lookups (exact and fuzzy) >= 95% right, field
and time filters >= 90%, topical >= 80% (an expected row in the top 10), graph >= 70%; for the rules
planner plan p50 <= 5 ms and, on the 10k dataset, ask p50 <= 50 ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness import Row, fmt, markdown, percentile, temp_dir, write_results

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nl_dataset as nd

ACCURACY_TARGETS = {  # % of questions answered right, per kind
    "lookup_exact": 95.0,
    "lookup_fuzzy": 95.0,
    "field_filter": 90.0,
    "time_filter": 90.0,
    "topical": 80.0,
    "graph": 70.0,
}
PLAN_P50_MS = 5.0
ASK_P50_MS_10K = 50.0
LLM_ENV = ("REMLITE_LLM_BASE_URL", "OPENAI_BASE_URL")


def planners(choice: str) -> list[str]:
    """`auto`: rules, plus llm when an endpoint is configured; otherwise what was asked for."""
    if choice == "auto":
        return ["rules", *(["llm"] if any(os.environ.get(v) for v in LLM_ENV) else [])]
    return ["rules", "llm"] if choice == "all" else [choice]


def missing_api(db: Any) -> str | None:
    """Why this remlite cannot be evaluated yet, or None. Checked before the (slow) dataset build."""
    absent = [name for name in ("ask", "plan") if not callable(getattr(db, name, None))]
    if not absent:
        return None
    return (
        f"db.{' and db.'.join(absent)} {'is' if len(absent) == 1 else 'are'} missing: this remlite has no "
        "natural-language querying yet. nl_eval.py needs db.ask(question, planner='rules'|'llm', max_stages=3) "
        "returning .rows (dicts with 'id'), .plan (.stages with .kind, .to_dict()), .confidence, .explanation, "
        ".timings, and db.plan(question, planner=...) returning the plan alone."
    )


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter_ns()
    value = fn()
    return value, (time.perf_counter_ns() - start) / 1e6


def _stage_kinds(plan: Any) -> list[str]:
    return [str(getattr(stage, "kind", stage)) for stage in getattr(plan, "stages", [])]


def _plan_dict(plan: Any) -> Any:
    to_dict = getattr(plan, "to_dict", None)
    return to_dict() if callable(to_dict) else repr(plan)


def evaluate(db: Any, ds: nd.Dataset, planner: str, repeat: int) -> list[dict[str, Any]]:
    """Ask every question; one record per question with the verdicts, the timings and the evidence."""
    out: list[dict[str, Any]] = []
    for q in ds.questions:
        item: dict[str, Any] = {"text": q.text, "kind": q.kind, "expected_stages": q.expected_stages, "top": q.top}
        plan_ms: list[float] = []
        ask_ms: list[float] = []
        try:
            if repeat > 1:  # one untimed call: the first search loads the model and the vector index
                db.ask(q.text, planner=planner, max_stages=3)
            for _ in range(repeat):
                _, ms = _timed(lambda q=q: db.plan(q.text, planner=planner))
                plan_ms.append(ms)
                result, ms = _timed(lambda q=q: db.ask(q.text, planner=planner, max_stages=3))
                ask_ms.append(ms)
        except Exception as exc:  # a crash is a wrong answer with its reason, not the end of the run
            item.update(correct=False, shape_ok=False, stages=[], error=f"{type(exc).__name__}: {exc}")
            item.update(plan_ms=plan_ms, ask_ms=ask_ms, rows=[], explanation="", confidence=None, plan=None)
            out.append(item)
            continue
        rows = list(result.rows)
        stages = _stage_kinds(result.plan)
        item.update(
            correct=nd.scorer(q, rows),
            shape_ok=q.shape_ok(stages),
            stages=stages,
            rows=[nd._row_id(r) for r in rows[:10]],
            n_rows=len(rows),
            plan_ms=plan_ms,
            ask_ms=ask_ms,
            explanation=str(getattr(result, "explanation", "")),
            confidence=getattr(result, "confidence", None),
            timings=dict(getattr(result, "timings", {}) or {}),
            plan=_plan_dict(result.plan),
            error=None,
        )
        out.append(item)
    return out


def _p(values: Sequence[float], q: float) -> float | None:
    return percentile(sorted(values), q) if values else None


def summarize(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per kind and overall: n, answer accuracy %, plan-shape accuracy %, plan and ask p50/p95 ms."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        groups[item["kind"]].append(item)
    groups["overall"] = items
    out: dict[str, dict[str, Any]] = {}
    for kind in [*nd.KINDS, "overall"]:
        group = groups.get(kind, [])
        if not group:
            continue
        plan_ms = [ms for i in group for ms in i["plan_ms"]]
        ask_ms = [ms for i in group for ms in i["ask_ms"]]
        out[kind] = {
            "n": len(group),
            "accuracy": 100.0 * sum(i["correct"] for i in group) / len(group),
            "shape": 100.0 * sum(i["shape_ok"] for i in group) / len(group),
            "errors": sum(i["error"] is not None for i in group),
            "plan_p50": _p(plan_ms, 50),
            "plan_p95": _p(plan_ms, 95),
            "ask_p50": _p(ask_ms, 50),
            "ask_p95": _p(ask_ms, 95),
            "target": ACCURACY_TARGETS.get(kind),
        }
    return out


def kind_table(stats: dict[str, dict[str, Any]]) -> str:
    """The per-kind markdown table: figures with their targets beside them."""

    def ms(a: float | None, b: float | None) -> str:
        return "-" if a is None or b is None else f"{fmt(a)} / {fmt(b)}"

    lines = [
        "| kind | n | answer accuracy | target | plan shape | plan p50 / p95 ms | ask p50 / p95 ms | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, s in stats.items():
        target = (
            "" if s["target"] is None else f">= {s['target']:.0f}% {'ok' if s['accuracy'] >= s['target'] else 'MISSED'}"
        )
        lines.append(
            f"| {kind} | {s['n']} | {s['accuracy']:.0f}% | {target} | {s['shape']:.0f}% | "
            f"{ms(s['plan_p50'], s['plan_p95'])} | {ms(s['ask_p50'], s['ask_p95'])} | {s['errors']} |"
        )
    return "\n".join(lines)


def target_rows(planner: str, size: str, stats: dict[str, dict[str, Any]]) -> list[Row]:
    """The same figures as harness Rows (metric | value | target), for the JSON file and `harness.py`."""
    rows = []
    for kind, s in stats.items():
        rows.append(
            Row(f"{planner} {kind} answer accuracy", s["accuracy"], None, "%", True, s["target"], f"n={s['n']}")
        )
        rows.append(Row(f"{planner} {kind} plan-shape accuracy", s["shape"], None, "%", True, None))
    overall = stats["overall"]
    plan_target = PLAN_P50_MS if planner == "rules" else None
    ask_target = ASK_P50_MS_10K if planner == "rules" and size == "10k" else None
    if overall["plan_p50"] is not None:
        rows.append(Row(f"{planner} plan p50", overall["plan_p50"], None, "ms", False, plan_target))
        rows.append(Row(f"{planner} plan p95", overall["plan_p95"], None, "ms", False, None))
    if overall["ask_p50"] is not None:
        rows.append(Row(f"{planner} ask p50", overall["ask_p50"], None, "ms", False, ask_target, f"{size} dataset"))
        rows.append(Row(f"{planner} ask p95", overall["ask_p95"], None, "ms", False, None))
    return rows


def stage_times(items: list[dict[str, Any]]) -> dict[str, float]:
    """Mean ms per stage name over the questions whose result reported it (from `result.timings`)."""
    sums: dict[str, list[float]] = defaultdict(list)
    for item in items:
        for name, value in (item.get("timings") or {}).items():
            if isinstance(value, int | float):
                sums[name].append(float(value))
    return {name: sum(v) / len(v) for name, v in sorted(sums.items())}


def show_failures(ds: nd.Dataset, items: list[dict[str, Any]]) -> None:
    """Each wrong answer or wrong plan shape: what was expected, what came back, and the plan's explanation."""
    names = {rid: f"{table}:{key}" for (table, key), rid in ds.ids.items()}
    questions = {q.text: q for q in ds.questions}
    for item in items:
        if item["correct"] and item["shape_ok"]:
            continue
        q = questions[item["text"]]
        verdict = ("wrong answer" if not item["correct"] else "") + (
            (", " if not item["correct"] else "") + "wrong plan" if not item["shape_ok"] else ""
        )
        expected = sorted(names.get(i, i) for i in q.expected)
        got = [names.get(i, i) for i in item["rows"]]
        print(f"\n- [{item['kind']}] {item['text']!r}: {verdict}")
        print(f"  expected {q.top}: {expected[:6]}{' ...' if len(expected) > 6 else ''} ({len(expected)}) - {q.why}")
        print(f"  got {item.get('n_rows', 0)} rows, first: {got[:6]}")
        print(f"  plan: {item['stages']} (expected {q.expected_stages}); confidence {item['confidence']}")
        if item["error"]:
            print(f"  error: {item['error']}")
        if item["explanation"]:
            print(f"  explanation: {item['explanation']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(nd.SIZES), default="small")
    parser.add_argument("--planner", choices=["auto", "rules", "llm", "all"], default="auto")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per question (rules planner)")
    parser.add_argument("--show-failures", action="store_true", help="list failing questions with the explanation")
    parser.add_argument("--out", type=Path, default=None, help="JSON result file (default benchmarks/.cache/)")
    args = parser.parse_args(argv)
    import remlite

    started = time.perf_counter()
    with temp_dir("remlite-nl-eval-") as root, remlite.connect(root, "nl") as db:
        problem = missing_api(db)
        if problem:
            print(problem, file=sys.stderr)
            return 2
        ds = nd.build(db, size=args.size)
        built = time.perf_counter() - started
        counts = ds.counts()
        total = sum(counts.values())
        print(f"dataset {args.size}: {total:,} records, {len(ds.questions)} questions, built in {built:.0f} s")
        tables: dict[str, list[Row]] = {}
        raw: dict[str, Any] = {}
        for planner in planners(args.planner):
            repeat = max(1, args.repeat) if planner == "rules" else 1
            items = evaluate(db, ds, planner, repeat)
            stats = summarize(items)
            tables[planner] = rows = target_rows(planner, args.size, stats)
            raw[planner] = {"stats": stats, "stage_ms": stage_times(items), "questions": items}
            print(f"\n**{planner} planner, {args.size} dataset ({sum(counts.values()):,} records)**\n")
            print(kind_table(stats))
            print()
            print(markdown([r for r in rows if r.unit == "ms"]))
            if raw[planner]["stage_ms"]:
                print("mean ms per stage:", ", ".join(f"{k} {fmt(v)}" for k, v in raw[planner]["stage_ms"].items()))
            if args.show_failures:
                show_failures(ds, items)
    missed = [
        f"{r.metric}: {fmt(r.remlite)} (target {fmt(r.target)})"
        for rows in tables.values()
        for r in rows
        if r.target_met is False
    ]
    print("\ntargets missed:", "; ".join(missed) or "none")
    path = write_results(
        "nl_eval",
        {"size": args.size, "counts": counts, "now": ds.now.isoformat(), "tables": tables, "raw": raw},
        args.out,
    )
    print(f"results: {path}  ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
