"""What every scenario of the reference benchmark plan shares: its flags, its result lines (remlite,
the peers measured in the same run, the document's Python figure and Rust expectation), printing,
the JSON it writes for `benchmarks/report.py`, and `--profile`.

A scenario script (micro.py, rag.py, analytics.py, multi_tenant.py, memory.py, large_db.py,
stress.py) is `plan.run(NAME, TITLE, PHASE, body)` where `body(scenario)` measures and calls
`scenario.table(title, [Measure, ...])`. Flags, common to all:

    --smoke   tiny sizes, seconds (the test of the report's structure); no ChromaDB/LanceDB
    --quick   the profile of `make bench` (default)
    --full    the profile of `make bench-full` (the document's sizes)
    --profile a CPU profile of the run next to its result (pyinstrument if installed, else cProfile)
    --no-peers  remlite only
    --out FILE  the JSON result (default benchmarks/.cache/plan/NAME.json)
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import CACHE, fmt, machine, print_grid
from reference import REFERENCE, TARGETS, compare, span

PLAN_CACHE = CACHE / "plan"


@dataclass
class Measure:
    """One remlite figure with what it is compared with. `ref` is a key of reference.REFERENCE
    (the document's figures); `peers` the same figure for the engines a user would pick instead,
    measured in the same run (None: not measured); `target` the issue's own bound, if any."""

    metric: str
    unit: str
    remlite: float | None
    higher_is_better: bool = True
    ref: str | None = None
    peers: dict[str, float | None] = field(default_factory=dict)
    target: float | None = None
    note: str = ""

    def reference(self) -> dict[str, Any] | None:
        if self.ref is None:
            return None
        ref, got = REFERENCE[self.ref], compare(self.ref, self.remlite)
        return {
            "key": self.ref,
            "section": ref.section,
            "what": ref.what,
            "python": span(ref.python),
            "rust": span(ref.rust),
            "vs_python": got.vs_python,
            "vs_rust": got.vs_rust,
            "verdict": got.verdict,
            "derived": ref.derived,
        }

    def peer_ratio(self, name: str) -> float | None:
        """> 1: remlite better than this peer."""
        theirs = self.peers.get(name)
        if theirs is None or self.remlite is None or theirs <= 0 or self.remlite <= 0:
            return None
        return self.remlite / theirs if self.higher_is_better else theirs / self.remlite

    def target_met(self) -> bool | None:
        if self.target is None or self.remlite is None:
            return None
        return self.remlite >= self.target if self.higher_is_better else self.remlite <= self.target

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["reference"] = self.reference()
        out["peer_ratios"] = {name: self.peer_ratio(name) for name in self.peers}
        out["target_met"] = self.target_met()
        return out


HEADERS = ["metric", "remlite", "ref. Python", "ref. Rust", "÷ Python", "÷ Rust", "vs Rust", "target", "peers", "note"]


def ratio_text(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def cells(m: dict[str, Any]) -> list[str]:
    """A measure (as JSON) as table cells; ratios > 1 mean remlite better."""
    ref = m.get("reference")
    value = "-" if m["remlite"] is None else fmt(m["remlite"])
    if m.get("target") is None:
        target = ""
    else:
        sign = ">=" if m["higher_is_better"] else "<="
        target = f"{sign} {fmt(m['target'])} {'ok' if m['target_met'] else 'MISSED'}"
    peers = "; ".join(
        f"{name} {'-' if v is None else fmt(v)}" + ("" if m["peer_ratios"].get(name) is None else
                                                  f" ({m['peer_ratios'][name]:.2f}x)")
        for name, v in m["peers"].items()
    )  # fmt: skip
    row = [f"{m['metric']} ({m['unit']})", value]
    if ref is None:
        row += ["", "", "", "", "", target]
    else:
        row += [ref["python"], ref["rust"], ratio_text(ref["vs_python"]), ratio_text(ref["vs_rust"]), ref["verdict"]]
        row.append(target)
    return [*row, peers, m.get("note", "")]


def markdown(measures: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells(m)) + " |" for m in measures]
    return "\n".join(lines)


def print_measures(title: str, measures: list[dict[str, Any]]) -> None:
    print_grid(title, HEADERS, [cells(m) for m in measures], numeric=range(1, 6), width=200)


class Scenario:
    """Collects one scenario's tables, notes and series; `write` makes the JSON the report reads."""

    def __init__(self, name: str, title: str, phase: str, args: argparse.Namespace) -> None:
        self.name, self.title, self.phase, self.args = name, title, phase, args
        self.tables: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.series: list[dict[str, Any]] = []
        self.raw: dict[str, Any] = {}
        self.started = time.perf_counter()

    @property
    def profile(self) -> str:
        return self.args.profile_name

    def pick(self, smoke: Any, quick: Any, full: Any) -> Any:
        return {"smoke": smoke, "quick": quick, "full": full}[self.profile]

    def peers_on(self, *modules: str) -> dict[str, bool]:
        """Which optional peers run: importable, not --no-peers, and not in --smoke for the heavy ones."""
        out = {}
        for module in modules:
            heavy = module in ("chromadb", "lancedb")
            if self.args.no_peers:
                out[module] = False
            elif heavy and self.profile == "smoke":
                out[module] = False
                self.note_once(f"{module} skipped in --smoke (its import alone takes seconds)")
            elif importlib.util.find_spec(module) is None:
                out[module] = False
                self.note_once(f"{module} not installed: skipped (`pip install -e '.[bench]'`)")
            else:
                out[module] = True
        return out

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"note: {text}", flush=True)

    def note_once(self, text: str) -> None:
        if text not in self.notes:
            self.note(text)

    def table(self, title: str, measures: list[Measure]) -> None:
        rows = [m.to_json() for m in measures]
        self.tables.append({"title": title, "measures": rows})
        print_measures(title, rows)

    def line_series(self, title: str, x_label: str, y_label: str, x: list[float], ys: dict[str, list[float]]) -> None:
        """A chart of y against x (e.g. ingest rate over rows loaded), drawn by the report."""
        self.series.append({"title": title, "x_label": x_label, "y_label": y_label, "x": x, "ys": ys})

    def write(self) -> Path:
        path = self.args.out or PLAN_CACHE / f"{self.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "scenario": self.name,
            "title": self.title,
            "phase": self.phase,
            "profile": self.profile,
            "seconds": time.perf_counter() - self.started,
            "machine": machine(),
            "tables": self.tables,
            "notes": self.notes,
            "series": self.series,
            "raw": self.raw,
            "targets": TARGETS,
        }
        path.write_text(json.dumps(payload, indent=2, default=str))
        return path


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--smoke", action="store_true", help="tiny sizes, seconds: structure only")
    group.add_argument("--quick", action="store_true", help="the profile of `make bench` (default)")
    group.add_argument("--full", action="store_true", help="the document's sizes (`make bench-full`)")
    p.add_argument("--profile", action="store_true", help="CPU profile next to the result (pyinstrument/cProfile)")
    p.add_argument("--no-peers", action="store_true", help="remlite only")
    p.add_argument("--out", type=Path, default=None, help="JSON result (default benchmarks/.cache/plan/NAME.json)")
    return p


@contextlib.contextmanager
def profiled(enabled: bool, base: Path) -> Iterator[None]:
    """Profile the block: pyinstrument (an HTML and a text report) if installed, else cProfile (a
    .prof file and the top of its cumulative listing). Files are `base` + suffix."""
    if not enabled:
        yield
        return
    base.parent.mkdir(parents=True, exist_ok=True)
    if importlib.util.find_spec("pyinstrument") is not None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002)
        profiler.start()
        try:
            yield
        finally:
            profiler.stop()
            base.with_suffix(".profile.html").write_text(profiler.output_html())
            base.with_suffix(".profile.txt").write_text(profiler.output_text(unicode=True, show_all=False))
            print(f"profile: {base.with_suffix('.profile.html')}")
        return
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(base.with_suffix(".prof"))
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(60)
        base.with_suffix(".profile.txt").write_text(text.getvalue())
        print(f"profile: {base.with_suffix('.profile.txt')}")


def run(
    name: str,
    title: str,
    phase: str,
    body: Callable[[Scenario], None],
    argv: list[str] | None = None,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Parse the common flags, run `body` (profiled with --profile), write the result JSON."""
    p = parser(title)
    if extra is not None:
        extra(p)
    args = p.parse_args(argv)
    args.profile_name = "smoke" if args.smoke else "full" if args.full else "quick"
    scenario = Scenario(name, title, phase, args)
    out = args.out or PLAN_CACHE / f"{name}.json"
    with profiled(args.profile, out.with_suffix("")):
        body(scenario)
    path = scenario.write()
    print(f"results: {path}  ({time.perf_counter() - scenario.started:.0f} s, {args.profile_name} profile)")
    return 0


def child_json(stdout: str) -> Any:
    """The last line of a child process's output, as JSON (the children print their figures last)."""
    return json.loads(stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit("run a scenario (micro.py, rag.py, ...) or report.py")
