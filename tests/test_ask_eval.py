"""The rules planner on the labelled evaluation set (benchmarks/nl_dataset.py, small size, the
local embedding model): the issue's accuracy targets per question kind, asserted. The same set at
10k records, with latencies, is benchmarks/nl_eval.py."""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

import remlite

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import nl_dataset

TARGETS = {"lookup_exact": 0.95, "lookup_fuzzy": 0.95, "field_filter": 0.90, "time_filter": 0.90, "topical": 0.80,
           "graph": 0.70}  # fmt: skip


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    db = remlite.connect(tmp_path_factory.mktemp("nl"), embedder="local")
    dataset = nl_dataset.build(db, size="small")
    right: dict[str, list[bool]] = defaultdict(list)
    shape: list[bool] = []
    failures = []
    for question in dataset.questions:
        answer = db.ask(question.text, planner="rules", now=dataset.now)
        ok = nl_dataset.scorer(question, answer.rows)
        right[question.kind].append(ok)
        shapes = [list(question.expected_stages), *(list(s) for s in question.also_stages)]
        shape.append(answer.plan.kinds in shapes or db.plan(question.text, now=dataset.now).kinds in shapes)
        if not ok:
            failures.append(f"[{question.kind}] {question.text!r}: {answer.explanation}")
    db.close()
    return {"right": right, "shape": shape, "failures": failures}


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_rules_meet_the_accuracy_target(evaluated: dict[str, Any], kind: str) -> None:
    answers = evaluated["right"][kind]
    assert len(answers) >= 10
    accuracy = sum(answers) / len(answers)
    assert accuracy >= TARGETS[kind], f"{kind}: {accuracy:.0%} < {TARGETS[kind]:.0%}\n" + "\n".join(
        f for f in evaluated["failures"] if f.startswith(f"[{kind}]")
    )


def test_rules_plans_have_the_expected_shape(evaluated: dict[str, Any]) -> None:
    shapes = evaluated["shape"]
    assert sum(shapes) / len(shapes) >= 0.85
