"""Defaults inside nested objects are stored on write (a Pydantic sub-model's defaults, `$defs`),
so a query on them finds the rows that relied on them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, Field

import remlite


class Address(BaseModel):
    street: str
    country: str = "US"


class Line(BaseModel):
    sku: str
    quantity: int = 1


class Customer(BaseModel):
    name: str = Field(json_schema_extra={"key": True})
    address: Address
    billing: Address | None = None
    lines: list[Line] = []


@pytest.fixture
def db(tmp_path: Any) -> Iterator[Any]:
    with remlite.connect(tmp_path) as handle:
        handle.register_schema(Customer, "customers")
        yield handle


def test_nested_defaults_are_stored(db: Any) -> None:
    rid = db.insert(
        "customers",
        {"name": "a", "address": {"street": "Main"}, "billing": {"street": "PO"}, "lines": [{"sku": "x"}]},
    )
    record = db.get(rid)
    assert record["address"] == {"street": "Main", "country": "US"}
    assert record["billing"] == {"street": "PO", "country": "US"}  # through Optional (anyOf with null)
    assert record["lines"] == [{"sku": "x", "quantity": 1}]  # through array items
    given = db.insert("customers", {"name": "b", "address": {"street": "Rue", "country": "FR"}})
    assert db.get(given)["address"]["country"] == "FR"  # a given value is kept
    rows = db.sql("SELECT name FROM customers WHERE address.country = 'US'").rows
    assert [r["name"] for r in rows] == ["a"]


def test_the_callers_dict_is_not_changed(db: Any) -> None:
    record = {"name": "c", "address": {"street": "Main"}}
    db.insert("customers", record)
    assert record == {"name": "c", "address": {"street": "Main"}}
