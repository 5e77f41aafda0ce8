"""Pydantic models for `remlite schema add examples.models:Person` (docs/cli.md) and
`db.register_schema("examples.models:Person")`: the options ride in `json_schema_extra`."""

from pydantic import BaseModel, ConfigDict


class Person(BaseModel):
    model_config = ConfigDict(json_schema_extra={"key_field": "email", "indexed_fields": ["city"]})

    email: str
    name: str
    city: str | None = None
