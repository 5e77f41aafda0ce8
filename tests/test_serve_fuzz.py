"""Schemathesis against /openapi.json through the ASGI app: generated requests for every route
(valid and invalid, with a valid key), and not one answers 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

import remlite  # noqa: E402
from remlite.serve.app import create_app  # noqa: E402
from remlite.serve.keys import KeyStore  # noqa: E402

TASKS = {
    "name": "tasks",
    "properties": {"title": {"type": "string"}, "done": {"type": "boolean"}},
    "key_field": "title",
    "text_fields": ["title"],
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("fuzz")
    key = KeyStore(root).create("acme")
    with remlite.connect(root, "acme") as db:
        db.register_schema(TASKS)
        db.insert("tasks", {"title": "seed", "done": False})
    runtime = remlite.Runtime()
    app = create_app(root, runtime=runtime)
    yield {"schema": schemathesis.openapi.from_asgi("/openapi.json", app), "key": key}
    runtime.close()


def test_no_route_answers_5xx(served: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {served['key']}"}
    operations = [result.ok() for result in served["schema"].get_all_operations()]
    assert len(operations) >= 18
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        check()
