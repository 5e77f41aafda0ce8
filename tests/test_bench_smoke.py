"""The benchmark plan's report (benchmarks/report.py) in its --smoke profile: every scenario runs at
tiny sizes and the report carries, for each, remlite's figures beside the reference document's
Python figure and Rust expectation with the ratios. Structure only: no figure is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench-smoke")
    command = [sys.executable, str(BENCHMARKS / "report.py"), "--smoke", "--out-dir", str(out), "--no-write"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "report.json").read_text()), (out / "report.md").read_text()


def smoke_scenarios() -> list[str]:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from report import SCENARIOS
    finally:
        sys.path.remove(str(BENCHMARKS))
    return [name for name, (_script, _title, profiles) in SCENARIOS.items() if "smoke" in profiles]


def test_every_scenario_is_in_the_report(report: tuple[dict, str]) -> None:
    data, text = report
    ran = {s["scenario"]: s for s in data["scenarios"]}
    assert set(smoke_scenarios()) <= set(ran), sorted(ran)
    for name in smoke_scenarios():
        scenario = ran[name]
        assert not scenario.get("error"), (name, scenario.get("error"))
        assert scenario["tables"], name
        assert f"### {scenario['title']}" in text, name
        for table in scenario["tables"]:
            assert f"**{table['title']}**" in text


def test_every_scenario_has_reference_figures_and_ratios(report: tuple[dict, str]) -> None:
    data, text = report
    for scenario in data["scenarios"]:
        refs = [m["reference"] for t in scenario["tables"] for m in t["measures"] if m.get("reference")]
        assert refs, f"{scenario['scenario']}: no figure compared with the document"
        for ref in refs:
            assert ref["section"] and ref["python"] and ref["rust"], ref
        assert any(r["vs_rust"] is not None or r["vs_python"] is not None for r in refs), scenario["scenario"]
        assert all(r["verdict"] in ("beyond", "within", "short", "") for r in refs)
    assert "| metric | remlite | ref. Python | ref. Rust | ÷ Python | ÷ Rust |" in text
    assert "### remlite against the document, every figure" in text
    assert "Machine:" in text and "Versions:" in text and "Command:" in text


def test_peer_and_target_columns_are_filled(report: tuple[dict, str]) -> None:
    data, _text = report
    measures = [m for s in data["scenarios"] for t in s["tables"] for m in t["measures"]]
    assert any(m["peers"] and any(v is not None for v in m["peers"].values()) for m in measures)
    assert any(m["target"] is not None and m["target_met"] is not None for m in measures)


def _report_module() -> tuple[ModuleType, ModuleType]:
    """The benchmarks' report and reference modules, imported from their folder."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import reference
        import report as report_module
    finally:
        sys.path.remove(str(BENCHMARKS))
    return report_module, reference


def test_every_short_figure_is_listed_with_why(report: tuple[dict, str]) -> None:
    data, text = report
    assert "### Short of the Rust expectation, and why" in text
    section = text.split("### Short of the Rust expectation, and why")[1].split("\n### ")[0]
    for scenario in data["scenarios"]:
        for table in scenario["tables"]:
            for m in table["measures"]:
                if (m.get("reference") or {}).get("verdict") == "short":
                    assert f"| {m['metric']} ({m['unit']}) |" in section, m["metric"]


def test_a_short_figure_carries_its_reason_or_says_none_is_recorded() -> None:
    report_module, reference = _report_module()
    assert set(reference.SHORT_WHY) <= set(reference.REFERENCE)

    def result(key: str, value: float) -> dict:
        got = reference.compare(key, value)
        ref = {"key": key, "rust": reference.span(reference.REFERENCE[key].rust), "verdict": got.verdict}
        return {"tables": [{"title": "t", "measures": [{"metric": key, "unit": "u", "remlite": value,
                                                         "reference": ref}]}]}  # fmt: skip

    listed = report_module.shortfalls([result("idle_rss", 35.0), result("get_ms", 0.5), result("get_ms", 0.001)])
    assert reference.SHORT_WHY["idle_rss"] in listed
    assert report_module.NO_REASON in listed and listed.count("| get_ms (u) |") == 1  # 0.001 ms is beyond
    assert report_module.shortfalls([result("get_ms", 0.001)]).startswith("Every figure is within or beyond")
