"""The reference benchmark plan, end to end: run every scenario, write one report.

Run: `make bench` (= `.venv/bin/python benchmarks/report.py --quick`, < 15 minutes on 2 cores),
`make bench-full` (`--full`: the plan's sizes, 1M entities, 60 s stress), or
`.venv/bin/python benchmarks/report.py --smoke --out-dir DIR --no-write` (seconds; the test).

Each scenario is a script of its own, run in a fresh process (so no figure inherits another's
memory or threads): micro.py (Phase 1), rag.py, analytics.py, multi_tenant.py (Phase 2),
memory.py (Phase 3; `--profile` gives every script a CPU profile), stress.py and large_db.py
(Phase 4; large_db only in --full and --smoke; a quick report shows the last full run's result if
there is one, with its date). Their JSON results go to benchmarks/.cache/plan/<profile>/; this
script then writes

- the report (markdown) between `<!-- bench:begin -->` and `<!-- bench:end -->` in
  benchmarks/RESULTS.md (nothing outside the markers changes; the markers are added after the
  file's introduction the first time): the machine, the commands, a summary of every figure
  against the document's Python figure and Rust expectation, the issue's targets, each scenario's
  tables and chart;
- one PNG chart per scenario (matplotlib) into benchmarks/.cache/charts/ (git-ignored), and the
  ones the report shows into benchmarks/charts/ (committed);
- README.md's performance table between `<!-- bench:readme:begin -->` and `<!-- bench:readme:end -->`.
With --no-write the report goes to DIR/report.md only (and charts to DIR/charts/).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness import CACHE, fmt
from plan import PLAN_CACHE, Measure, markdown, ratio_text
from reference import DOC, REFERENCE, SHORT_WHY

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "RESULTS.md"
README = ROOT / "README.md"
CHARTS = HERE / "charts"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
README_BEGIN, README_END = "<!-- bench:readme:begin -->", "<!-- bench:readme:end -->"
SCENARIOS = {  # name: (script, phase, in which profiles)
    "micro": ("micro.py", "Phase 1: baseline micro-benchmarks", ("smoke", "quick", "full")),
    "rag": ("rag.py", "Phase 2.1: RAG application simulation", ("smoke", "quick", "full")),
    "analytics": ("analytics.py", "Phase 2.2: analytics query workload", ("smoke", "quick", "full")),
    "multi_tenant": ("multi_tenant.py", "Phase 2.3: multi-tenant simulation", ("smoke", "quick", "full")),
    "memory": ("memory.py", "Phase 3.1: memory (3.2: --profile on every script)", ("smoke", "quick", "full")),
    "stress": ("stress.py", "Phase 4.2: concurrent workload over HTTP (70/20/10)", ("smoke", "quick", "full")),
    "large_db": ("large_db.py", "Phase 4.1: large database (1M entities)", ("smoke", "full")),
}
VERSIONS = ("remlite", "rocksdict", "usearch", "duckdb", "pyarrow", "numpy", "onnxruntime", "orjson", "fastapi",
            "uvicorn", "chromadb", "lancedb", "matplotlib", "pyinstrument")  # fmt: skip


# --------------------------------------------------------------------------- running
def run_scenario(name: str, args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    script = HERE / SCENARIOS[name][0]
    out = out_dir / f"{name}.json"
    command = [sys.executable, str(script), f"--{args.profile_name}", "--out", str(out)]
    command += ["--profile"] if args.profile else []
    command += ["--no-peers"] if args.no_peers else []
    log = out_dir / f"{name}.log"
    started = time.perf_counter()
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    with open(log, "w") as sink:
        if args.jobs > 1:  # output to the log only (parallel runs would interleave)
            done = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT)
            code = done.returncode
        else:
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
            assert proc.stdout is not None
            for line in proc.stdout:
                sys.stdout.write(line)
                sink.write(line)
            code = proc.wait()
    seconds = time.perf_counter() - started
    print(f"== {name}: exit {code}, {seconds:.0f} s", flush=True)
    if code != 0 or not out.exists():
        tail = log.read_text().splitlines()[-15:]
        return {"scenario": name, "title": SCENARIOS[name][1], "error": "\n".join(tail), "seconds": seconds,
                "tables": [], "notes": [], "series": [], "command": command}  # fmt: skip
    data = json.loads(out.read_text())
    data["command"] = command
    data["wall_seconds"] = seconds
    return data


def earlier_full(name: str) -> dict[str, Any] | None:
    """The last --full result of a scenario the quick profile does not run (large_db)."""
    path = PLAN_CACHE / "full" / f"{name}.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    data["earlier"] = True
    data["command"] = [sys.executable, str(HERE / SCENARIOS[name][0]), "--full"]
    return data


# --------------------------------------------------------------------------- the machine
def machine_info() -> dict[str, Any]:
    cpu = "?"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        ram_gb = int(info.readline().split()[1]) / 2**20
    versions = {}
    for package in VERSIONS:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "absent"
    versions["sqlite3 (library)"] = sqlite3.sqlite_version
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
        head = commit.stdout.strip()
    except OSError:
        head = "?"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "versions": versions,
        "commit": head,
    }


# --------------------------------------------------------------------------- charts
def bar_label(measure: dict[str, Any], title: str, prefix: bool = True) -> str:
    """A chart's bar label: the table's size ('100,000 entities', when the chart mixes tables) and the
    metric, at most 72 characters."""
    size = re.search(r"(?:\d{1,3}(?:,\d{3})+|\d{3,}) (?:real )?[a-z0-9-]+", title)  # '100,000 entities'
    text = f"{size.group(0)}: " if size and prefix else ""
    text += f"{measure['metric']} ({measure['unit']})" if measure["unit"] else measure["metric"]
    return text if len(text) <= 72 else text[:69] + "..."


def chart(data: dict[str, Any], path: Path) -> bool:
    """One PNG per scenario: remlite against the document's figures (bars of the ratios, log scale)
    and the scenario's series (lines). False when matplotlib is absent or there is nothing to draw."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    refs = [(m, t["title"]) for t in data.get("tables", []) for m in t["measures"] if m.get("reference")]
    refs = [(m, title) for m, title in refs if m["reference"]["vs_rust"] or m["reference"]["vs_python"]]
    series = data.get("series", [])
    versus = [(m, t["title"]) for t in data.get("tables", []) for m in t["measures"]
              if any(v is not None for v in m.get("peer_ratios", {}).values())
              and not m["metric"].endswith((" p95", " p99"))]  # fmt: skip
    peer_names = sorted({p for m, _ in versus for p, v in m["peer_ratios"].items() if v is not None})
    panels = (1 if refs else 0) + (1 if versus else 0) + len(series)
    if panels == 0:
        return False
    height = max(3.0, 0.32 * len(refs) + 1.5) if refs else 0
    peer_height = max(3.0, 0.12 * len(versus) * max(1, len(peer_names)) + 1.5) if versus else 0
    ratios = ([height] if refs else []) + ([peer_height] if versus else []) + [3.2] * len(series)
    fig, axes = plt.subplots(panels, 1, figsize=(12, sum(ratios)), gridspec_kw={"height_ratios": ratios})
    axes = list(axes) if panels > 1 else [axes]
    if refs:
        ax = axes.pop(0)
        labels = [bar_label(m, t, len({t for _, t in refs}) > 1) for m, t in refs]
        y = range(len(refs))
        rust = [m["reference"]["vs_rust"] or float("nan") for m, _ in refs]
        python = [m["reference"]["vs_python"] or float("nan") for m, _ in refs]
        ax.barh([i + 0.2 for i in y], python, height=0.4, label="remlite ÷ reference Python", color="#8fb3d9")
        ax.barh([i - 0.2 for i in y], rust, height=0.4, label="remlite ÷ reference Rust (best case)", color="#d9822b")
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_yticks(list(y))
        ax.set_yticklabels(labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("> 1: remlite better (faster / smaller)")
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title(f"{data.get('title', data['scenario'])}: remlite against the reference document", fontsize=9)
    if versus:
        ax = axes.pop(0)
        step = 0.8 / len(peer_names)
        for k, peer in enumerate(peer_names):
            values = [m["peer_ratios"].get(peer) or float("nan") for m, _ in versus]
            where = [i - 0.4 + step * (k + 0.5) for i in range(len(versus))]
            ax.barh(where, values, height=step, label=f"remlite ÷ {peer}")
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_yticks(list(range(len(versus))))
        ax.set_yticklabels([bar_label(m, t, len({t for _, t in versus}) > 1) for m, t in versus], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("> 1: remlite better than the peer (same run)")
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title("remlite against the peers measured in the same run", fontsize=9)
    for spec, ax in zip(series, axes, strict=True):
        for label, ys in spec["ys"].items():
            ax.plot(spec["x"][: len(ys)], ys, marker="o", markersize=3, label=label)
        if spec["x"] and min(spec["x"]) > 0 and max(spec["x"]) / min(spec["x"]) >= 20:
            ax.set_xscale("log")
        ax.set_xlabel(spec["x_label"])
        ax.set_ylabel(spec["y_label"])
        ax.set_title(spec["title"], fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- markdown
def short(title: str) -> str:
    """A table's title to its first two comma-separated parts (e.g. '2.2 analytics, 100,000 entities')."""
    parts = title.replace(", ", "\0").split("\0")
    text = ", ".join(parts[:2])
    return text if len(text) <= 60 else text[:57] + "..."


def measures(results: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(table, measure) of every scenario's tables, in report order."""
    for data in results:
        for table in data.get("tables", []):
            for m in table["measures"]:
                yield table, m


def summary(results: list[dict[str, Any]]) -> str:
    lines = [
        "| table | metric | remlite | ref. Python | ref. Rust | ÷ Python | ÷ Rust | vs Rust | document section |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for table, m in measures(results):
        ref = m.get("reference")
        if not ref or m["remlite"] is None:
            continue
        lines.append(
            f"| {short(table['title'])} | {m['metric']} ({m['unit']}) | {fmt(m['remlite'])} | {ref['python']} | "
            f"{ref['rust']} | {ratio_text(ref['vs_python'])} | {ratio_text(ref['vs_rust'])} | {ref['verdict']} | "
            f"{ref['section']} |"
        )
    return "\n".join(lines)


NO_REASON = "no reason recorded (benchmarks/reference.py `SHORT_WHY`): see the scenario's section"


def shortfalls(results: list[dict[str, Any]]) -> str:
    """Every figure short of the document's Rust expectation, each with why (`SHORT_WHY`), so the
    report says plainly where remlite is not at or beyond it."""
    lines = ["| table | metric | remlite | ref. Rust | why |", "|---|---|---|---|---|"]
    for table, m in measures(results):
        ref = m.get("reference")
        if not ref or ref["verdict"] != "short" or m["remlite"] is None:
            continue
        why = SHORT_WHY.get(ref["key"], NO_REASON)
        lines.append(f"| {short(table['title'])} | {m['metric']} ({m['unit']}) | {fmt(m['remlite'])} | "
                     f"{ref['rust']} | {why} |")  # fmt: skip
    if len(lines) == 2:
        return "Every figure is within or beyond the document's Rust expectation."
    return "\n".join(lines)


def targets(results: list[dict[str, Any]]) -> str:
    lines = ["| table | metric | remlite | target | met |", "|---|---|---|---|---|"]
    for table, m in measures(results):
        if m.get("target") is None or m["remlite"] is None:
            continue
        sign = ">=" if m["higher_is_better"] else "<="
        met = "ok" if m["target_met"] else "MISSED"
        lines.append(f"| {short(table['title'])} | {m['metric']} | {fmt(m['remlite'])} {m['unit']} | "
                     f"{sign} {fmt(m['target'])} | {met} |")  # fmt: skip
    return "\n".join(lines)


def render(results: list[dict[str, Any]], info: dict[str, Any], args: argparse.Namespace, charts: dict[str, str],
           load: tuple[tuple[float, ...], tuple[float, ...]], seconds: float, date: str) -> str:  # fmt: skip
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    before, after = (", ".join(f"{x:.2f}" for x in la) for la in load)
    command = {"quick": "make bench", "full": "make bench-full", "smoke": "report.py --smoke"}[args.profile_name]
    out = [
        f"## The reference benchmark plan, generated ({command}, {date})",
        "",
        f"Generated by `benchmarks/report.py` from one run ({args.profile_name} profile, {seconds / 60:.1f} min); "
        "everything between the `bench:begin` and `bench:end` markers is rewritten by the next run. "
        f"The reference is `{DOC}` (figures in `benchmarks/reference.py`, one table with each figure's "
        "section); the sections further down this file are the hand-written history.",
        "",
        f"- Machine: {info['cpu']}, {info['cores']} cores, {info['ram_gb']:.0f} GB RAM, {info['python']}, "
        f"{info['platform']}; commit {info['commit']}.",
        f"- Load average (1, 5, 15 min) before the run: {before}; after: {after}. "
        + ("**Figures taken under load** (other jobs shared the cores)." if max(load[0][0], load[1][0]) > 0.5 else
           "The machine was otherwise idle."),
        f"- Versions: {versions}.",
        f"- Command: `{command}` = `.venv/bin/python benchmarks/report.py --{args.profile_name}`; one scenario: "
        f"`.venv/bin/python benchmarks/<scenario>.py --{args.profile_name} [--profile] [--no-peers]`.",
        "- Columns: **ref. Python** and **ref. Rust** are the document's figures; **÷ Python** and **÷ Rust** are "
        "remlite relative to them, **> 1 means remlite is better** (faster, smaller), against the Python figure's "
        "most favourable end and the Rust range's best case; **vs Rust**: `beyond` its best case, `within` its "
        "range, `short` of it. **peers**: the same figure for an engine measured in the same run, with remlite's "
        "ratio. **target**: the issue's own bound.",
        "",
        "### remlite against the document, every figure",
        "",
        summary(results),
        "",
        "### Short of the Rust expectation, and why",
        "",
        shortfalls(results),
        "",
        "### The issue's targets",
        "",
        targets(results),
        "",
    ]
    for data in results:
        name = data["scenario"]
        out += [f"### {data.get('title', name)} (`benchmarks/{SCENARIOS[name][0]}`)", ""]
        if data.get("earlier"):
            out += [f"Not run by this profile: the last `make bench-full` result, from {data['machine']['date']}.", ""]
        if data.get("error"):
            out += ["**The scenario failed**; the end of its log:", "", "```text", data["error"], "```", ""]
            continue
        command = " ".join(Path(c).name if c.endswith(".py") else c for c in data.get("command", [])[1:])
        out += [f"`{command}`: {data.get('wall_seconds', data.get('seconds', 0)):.0f} s.", ""]
        for note in data.get("notes", []):
            out.append(f"- {note}")
        if data.get("notes"):
            out.append("")
        for table in data["tables"]:
            out += [f"**{table['title']}**", "", markdown(table["measures"]), ""]
        derived = {m["reference"]["key"] for t in data["tables"] for m in t["measures"] if m.get("reference")}
        derived_notes = [f"`{k}`: {REFERENCE[k].derived}" for k in sorted(derived) if REFERENCE[k].derived]
        if derived_notes:
            out += ["Reference figures derived from the document's relative claims: " + "; ".join(derived_notes), ""]
        if name in charts:
            out += [f"![{name}]({charts[name]})", ""]
    return "\n".join(out).rstrip() + "\n"


def replace_between(text: str, begin: str, end: str, body: str, anchor: str) -> str:
    """Put body between the markers; without markers, insert them before `anchor` (first match)."""
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        return head + block + tail
    at = text.index(anchor) + (1 if anchor.startswith("\n") else 0)
    return text[:at] + block + "\n\n" + text[at:]


# --------------------------------------------------------------------------- README
README_ROWS = [  # (label, scenario, table title starts with, metric starts with, peer)
    ("get by id, 100k entities", "micro", "1.2", "get, 1 thread", "sqlite3"),
    ("get, 100 threads on one handle", "micro", "1.2", "get, 100 threads", "sqlite3"),
    ("full scan to dicts, 100k", "micro", "1.3", "scan 100k", "sqlite3"),
    ("durable single insert", "micro", "1.1 insert,", "single insert", "sqlite3"),
    ("batch upsert, natural key + 3 indexes", "micro", "1.1 insert,", "batch insert", "sqlite3"),
    ("insert with local embeddings (MiniLM int8, CPU), per row", "micro", "1.1 insert with", "insert_batch", None),
    ("vector search, 10k real 384-d, p50", "micro", "1.4 vector search, 10,000", "search p50", "chromadb"),
    ("vector search, 100k real 384-d, p50", "micro", "1.4 vector search, 100,000", "search p50", "chromadb"),
    ("RAG query p95 incl. its embedding", "rag", "2.1", "query p95", "chromadb"),
    ("SQL `GROUP BY type` over `entities`, 100k, p50", "analytics", "2.2 analytics, 100,000", "entities GROUP BY",
     "duckdb"),
    ("SQL filter + ORDER BY + LIMIT 100, 100k, p50", "analytics", "2.2 analytics, 100,000", "entities filter",
     "duckdb"),
    ("100 tenants in one process, mixed queries", "multi_tenant", "2.3 100", "queries per second", "sqlite3"),
    ("idle process (import + open)", "memory", "3.1", "idle", "sqlite3"),
    ("10k entities loaded", "memory", "3.1", "10k entities loaded", "sqlite3"),
    ("HTTP 70/20/10 mix, 1,000 req/s offered: p99", "stress", "4.2", "p99", None),
    ("1M entities bulk ingest (no embeddings)", "large_db", "4.1", "bulk ingest", "sqlite3"),
]  # fmt: skip


def readme_table(results: list[dict[str, Any]], args: argparse.Namespace, date: str) -> str:
    by_name = {r["scenario"]: r for r in results}
    lines = [
        f"Generated by `make bench` ({args.profile_name} profile, {date[:10]}; the 1M line from "
        "`make bench-full`); **÷ Rust** is remlite relative to the reference document's Rust expectation "
        "(> 1: better):",
        "",
        "| | remlite | peer in the same run | reference Rust | ÷ Rust |",
        "|---|---|---|---|---|",
    ]
    for label, scenario, title, metric, peer in README_ROWS:
        data = by_name.get(scenario)
        found = None
        for table in (data or {}).get("tables", []):
            if table["title"].startswith(title):
                found = next((m for m in table["measures"] if m["metric"].startswith(metric)), None)
                if found:
                    break
        if found is None or found["remlite"] is None:
            continue
        unit = found["unit"]
        theirs = found["peers"].get(peer) if peer else None
        peer_cell = f"{peer} {fmt(theirs)} {unit}" if theirs is not None else ""
        ref = found.get("reference") or {}
        rust = f"{ref['rust']} {unit}" if ref.get("rust") and ref["rust"] != "-" else ""
        lines.append(f"| {label} | {fmt(found['remlite'])} {unit} | {peer_cell} | {rust} | "
                     f"{ratio_text(ref.get('vs_rust')) if ref else ''} |")  # fmt: skip
    return "\n".join(lines)


def update_readme(table: str) -> None:
    text = README.read_text()
    if README_BEGIN in text:
        text = replace_between(text, README_BEGIN, README_END, table, "")
    else:  # the first time: the hand-written table after "On the 2-core development machine"
        start = text.index("| | remlite | peer in the same run |")
        end = start
        lines = text[start:].split("\n")
        for line in lines:
            if not line.startswith("|"):
                break
            end += len(line) + 1
        text = text[:start] + f"{README_BEGIN}\n{table}\n{README_END}\n" + text[end:]
    README.write_text(text)


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = p.add_mutually_exclusive_group()
    group.add_argument("--smoke", action="store_true")
    group.add_argument("--quick", action="store_true")
    group.add_argument("--full", action="store_true")
    p.add_argument("--profile", action="store_true", help="a CPU profile of every scenario next to its result")
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--only", default="", help="comma list of scenarios (default: all of the profile)")
    p.add_argument("--out-dir", type=Path, default=None, help="results, logs (default benchmarks/.cache/plan/PROFILE)")
    p.add_argument("--no-write", action="store_true", help="leave RESULTS.md, README.md and benchmarks/charts alone")
    p.add_argument("--jobs", type=int, default=None, help="scenarios at once (default 1; --smoke: 4)")
    p.add_argument("--render-only", action="store_true",
                   help="no run: the report, charts and README table again from the results already in --out-dir")
    args = p.parse_args(argv)
    args.profile_name = "smoke" if args.smoke else "full" if args.full else "quick"
    args.jobs = args.jobs or (4 if args.smoke else 1)
    out_dir = args.out_dir or PLAN_CACHE / args.profile_name
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = [n for n in args.only.split(",") if n] or list(SCENARIOS)
    names = [n for n in wanted if args.profile_name in SCENARIOS[n][2]]
    load_before = os.getloadavg()
    started = time.perf_counter()
    if args.render_only:
        return render_only(args, out_dir)
    if args.profile_name != "smoke":
        subprocess.run([sys.executable, str(HERE / "fixtures.py")], check=True, cwd=ROOT)
    with ThreadPoolExecutor(args.jobs) as pool:
        ran = dict(zip(names, pool.map(lambda n: run_scenario(n, args, out_dir), names), strict=True))
    seconds = time.perf_counter() - started
    write_report(args, out_dir, wanted, ran, (load_before, os.getloadavg()), seconds)
    failed = [name for name, r in ran.items() if r.get("error")]
    print(f"report: {out_dir / 'report.md'} ({seconds / 60:.1f} min; load {load_before[0]:.2f} -> "
          f"{os.getloadavg()[0]:.2f})" + (f"; FAILED: {', '.join(failed)}" if failed else ""))  # fmt: skip
    return 1 if failed else 0


def render_only(args: argparse.Namespace, out_dir: Path) -> int:
    """The report again from a finished run's report.json (its figures, load and duration)."""
    saved = json.loads((out_dir / "report.json").read_text())
    ran = {s["scenario"]: s for s in saved["scenarios"] if not s.get("earlier")}
    wanted = [s["scenario"] for s in saved["scenarios"]]
    load = (tuple(saved["load"][0]), tuple(saved["load"][1]))
    write_report(args, out_dir, wanted, ran, load, saved["seconds"], saved.get("date"), saved["machine"])
    print(f"report: {out_dir / 'report.md'} (rendered again from {out_dir / 'report.json'})")
    return 0


def write_report(
    args: argparse.Namespace,
    out_dir: Path,
    wanted: list[str],
    ran: dict[str, dict[str, Any]],
    load: tuple[tuple[float, ...], tuple[float, ...]],
    seconds: float,
    date: str | None = None,
    info: dict[str, Any] | None = None,
) -> None:
    """Charts, report.md/report.json in out_dir and, unless --no-write, RESULTS.md, README, charts/."""
    results = []
    for name in wanted:
        if name in ran:
            results.append(ran[name])
        elif (earlier := earlier_full(name)) is not None:
            results.append(earlier)
    for _table, m in measures(results):  # the document's figures and ratios from reference.py as it is now
        if m.get("ref"):
            fields = ("metric", "unit", "remlite", "higher_is_better", "ref", "peers", "target", "note")
            m["reference"] = Measure(**{k: m[k] for k in fields}).reference()
    date = date or time.strftime("%Y-%m-%d %H:%M %Z")
    info = info or machine_info()
    chart_dir = (out_dir / "charts") if args.no_write else CACHE / "charts" / args.profile_name
    shown: dict[str, str] = {}
    for data in results:
        png = chart_dir / f"{data['scenario']}.png"
        if chart(data, png):
            if args.no_write:
                shown[data["scenario"]] = str(png)
            else:
                CHARTS.mkdir(exist_ok=True)
                shutil.copy(png, CHARTS / png.name)
                shown[data["scenario"]] = f"charts/{png.name}"
    report = render(results, info, args, shown, load, seconds, date)
    (out_dir / "report.md").write_text(report)
    payload = {"machine": info, "load": list(load), "seconds": seconds, "date": date, "scenarios": results}
    (out_dir / "report.json").write_text(json.dumps(payload, indent=2, default=str))
    if not args.no_write:
        RESULTS.write_text(replace_between(RESULTS.read_text(), BEGIN, END, report, "\n## "))
        update_readme(readme_table(results, args, date))
        print(f"wrote {RESULTS}, {README} (performance table) and {CHARTS}/")


if __name__ == "__main__":
    sys.exit(main())
