"""Small shared harness for remlite's benchmark scripts (crud, vector, sql, graph, ingest, ...).

Benchmarks are plain scripts, not pytest: one run prints medians and remlite-vs-peer ratios and writes
a JSON file, so `benchmarks/RESULTS.md` can be regenerated from data instead of copied by hand.
Render a result file as markdown with `python benchmarks/harness.py FILE.json`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

CACHE = Path(__file__).resolve().parent / ".cache"  # git-ignored; JSON results land here


@dataclass(frozen=True)
class Latency:
    """Per-call latency percentiles in milliseconds (medians resist the noise of a shared machine)."""

    n: int
    median_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; simple and exact enough for thousands of samples."""
    if not sorted_values:
        raise ValueError("no samples")
    rank = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


def latency(fn: Callable[[], object], repeat: int, warmup: int = 10) -> Latency:
    """Time `fn` once per call, `repeat` times; warm-up calls fill caches so p50 is steady state."""
    for _ in range(warmup):
        fn()
    clock = time.perf_counter_ns
    samples: list[float] = []
    for _ in range(repeat):
        start = clock()
        fn()
        samples.append((clock() - start) / 1e6)
    samples.sort()
    p50 = statistics.median(samples)
    return Latency(repeat, p50, p50, percentile(samples, 95), percentile(samples, 99))


def throughput(fn: Callable[[], object], ops: int, runs: int = 3, setup: Callable[[], object] | None = None) -> float:
    """Ops/s from the median of `runs` timed runs of `fn` doing `ops` operations each.

    `setup` runs untimed before every run (e.g. a fresh empty database for insert benchmarks), so a
    run never measures the leftovers of the previous one.
    """
    times: list[int] = []
    for _ in range(runs):
        if setup is not None:
            setup()
        start = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - start)
    return ops / (statistics.median(times) / 1e9)


@contextlib.contextmanager
def temp_dir(prefix: str = "remlite-bench-") -> Iterator[Path]:
    """A fresh directory removed afterwards, so every benchmark starts from empty storage."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def memory_mb(pid: int | str = "self") -> dict[str, float]:
    """Resident set (VmRSS) and its peak (VmHWM) in MB, from /proc: what the OS really charges us."""
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out["rss_mb" if key == "VmRSS" else "peak_mb"] = int(value.split()[0]) / 1024
    return out


def fresh_process_memory_mb(code: str) -> dict[str, float]:
    """Run `code` in a new interpreter and return its memory afterwards: the only honest idle figure,
    since the benchmark process itself has already grown."""
    probe = f"{code}\nimport json\nprint(json.dumps({_PROBE}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


_PROBE = (
    "{('rss_mb' if k == 'VmRSS' else 'peak_mb'): int(v.split()[0]) / 1024 for k, _, v in "
    "(l.partition(':') for l in open('/proc/self/status')) if k in ('VmRSS', 'VmHWM')}"
)


@dataclass
class Row:
    """One comparison line. `higher_is_better` decides the direction of the ratio and the target."""

    metric: str
    remlite: float
    peer: float | None
    unit: str
    higher_is_better: bool = True
    target: float | None = None
    note: str = ""
    ratio: float | None = field(init=False, default=None)
    target_met: bool | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.peer:
            self.ratio = self.remlite / self.peer if self.higher_is_better else self.peer / self.remlite
        if self.target is not None:
            self.target_met = self.remlite >= self.target if self.higher_is_better else self.remlite <= self.target

    def cells(self) -> list[str]:
        """metric | remlite | peer | ratio (remlite faster by; >1 is faster) | target."""
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}x"
        if self.target is None:
            target = ""
        else:
            sign = ">=" if self.higher_is_better else "<="
            target = f"{sign} {fmt(self.target)} {'ok' if self.target_met else 'MISSED'}"
        peer = "-" if self.peer is None else fmt(self.peer)
        return [f"{self.metric} ({self.unit})", fmt(self.remlite), peer, ratio, target, self.note]


HEADERS = ["metric", "remlite", "peer", "ratio (remlite faster by)", "target", "note"]


def fmt(value: float) -> str:
    """Three significant figures with thousands separators: easy to read, no false precision."""
    if value >= 100:
        return f"{round(value, -len(str(int(value))) + 3):,.0f}"
    return f"{value:.3g}"


def _headers(peer: str, ratio: str) -> list[str]:
    return [peer if h == "peer" else ratio if h.startswith("ratio") else h for h in HEADERS]


def print_table(title: str, rows: Sequence[Row], peer: str = "peer", ratio: str = HEADERS[3]) -> None:
    """Print rows with Rich when available, else as plain aligned text (e.g. in CI logs)."""
    print_grid(title, _headers(peer, ratio), [r.cells() for r in rows], numeric=range(1, 4))


def print_grid(
    title: str, headers: Sequence[str], body: Sequence[Sequence[str]], numeric: range, width: int = 160
) -> None:
    """A table of text cells (the `numeric` columns right-aligned), with Rich when available, else as
    plain aligned text."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(x) for x in col) for col in zip(headers, *body, strict=True)]
        print(f"\n{title}")
        for line in [headers, *body]:
            print(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))
        return
    table = Table(title=title, title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if i in numeric else "left")
    for line in body:
        table.add_row(*line)
    Console(width=width).print(table)


def markdown(rows: Sequence[dict[str, Any]] | Sequence[Row], peer: str = "peer", ratio: str = HEADERS[3]) -> str:
    """The same table as markdown, from Row objects or their JSON dicts."""
    objs = [r if isinstance(r, Row) else _row_from_dict(r) for r in rows]
    headers = _headers(peer, ratio)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in objs]
    return "\n".join(lines)


def _row_from_dict(data: dict[str, Any]) -> Row:
    return Row(**{k: v for k, v in data.items() if k not in ("ratio", "target_met")})


def parse_args(description: str, default_sizes: Sequence[int], argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Common flags: `--sizes 10000,100000`, `--quick` (1k rows, a smoke test), `--out FILE`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",") if x], default=list(default_sizes))
    parser.add_argument("--quick", action="store_true", help="1,000 rows and fewer repetitions")
    parser.add_argument("--out", type=Path, default=None, help="JSON result file (default benchmarks/.cache/)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = [1000]
    return args


def machine() -> dict[str, Any]:
    """Enough context to judge a figure later: cores, Python, platform, date."""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "argv": sys.argv,
    }


def _jsonable(obj: Any) -> Any:
    return asdict(obj) if is_dataclass(obj) and not isinstance(obj, type) else str(obj)


def write_results(name: str, results: dict[str, Any], out: Path | None = None) -> Path:
    """Write results (with machine info) as JSON; dataclasses (Row, Latency) become dicts."""
    path = out or CACHE / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), **results}
    path.write_text(json.dumps(payload, indent=2, default=_jsonable))
    return path


def best_of(paths: Sequence[str | Path]) -> dict[str, Any]:
    """Merge result files line by line, keeping each engine's better median: on a shared, noisy
    machine the better of several runs is the closer estimate of what the code can do."""
    runs = [json.loads(Path(p).read_text()) for p in paths]
    for title, rows in runs[0]["tables"].items():
        for i, row in enumerate(rows):
            pick = max if row["higher_is_better"] else min
            for key in ("remlite", "peer"):
                values = [run["tables"][title][i][key] for run in runs if run["tables"][title][i][key] is not None]
                row[key] = pick(values) if values else None
    return runs[0]


if __name__ == "__main__":  # `harness.py RUN.json [RUN2.json ...]`: markdown tables, best of the runs
    data = best_of(sys.argv[1:])
    for title, rows in data.get("tables", {}).items():
        ratio = "ratio (remlite smaller by)" if all(r["unit"] == "MB" for r in rows) else HEADERS[3]
        print(f"\n**{title}**\n\n{markdown(rows, data.get('peer', 'peer'), ratio)}")
