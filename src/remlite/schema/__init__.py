"""Schemas: loading (Pydantic, JSON Schema, YAML), validation, the registry and built-in templates."""
