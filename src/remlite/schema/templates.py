"""The built-in REM tables, registered when a database is created."""

from __future__ import annotations

from typing import Any

_STR = {"type": "string"}
_STR_OR_NULL = {"type": ["string", "null"]}
_TS = {"type": "string", "format": "date-time"}
_TS_OR_NULL = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}
_STR_LIST = {"type": "array", "items": {"type": "string"}, "default": []}
_OBJECT = {"type": "object", "default": {}}


def _table(
    name: str, description: str, properties: dict[str, Any], required: list[str], **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "title": name,
        "description": description,
        "category": "rem",
        "type": "object",
        "properties": properties,
        "required": required,
        **extra,
    }


TEMPLATES: dict[str, dict[str, Any]] = {
    "resources": _table(
        "resources",
        "Chunks of documents; the id derives from uri + chunk_ordinal, so re-ingesting replaces chunks.",
        {
            "uri": _STR,
            "chunk_ordinal": {"type": "integer", "minimum": 0, "default": 0},
            "name": _STR_OR_NULL,
            "content": {"type": "string", "default": ""},
            "title": _STR_OR_NULL,
            "heading_path": _STR_LIST,
            "content_type": _STR_OR_NULL,
            "offset_start": {"type": ["integer", "null"]},
            "offset_end": {"type": ["integer", "null"]},
            "page": {"type": ["integer", "null"]},
            "category": _STR_OR_NULL,
            "metadata": _OBJECT,
        },
        ["uri"],
        key_field=["uri", "chunk_ordinal"],
        indexed_fields=["uri", "category"],
        embedding_fields=["content"],
    ),
    "entities": _table(
        "entities",
        "Generic named things with free-form properties, upserted on their key.",
        {"key": _STR, "name": _STR, "entity_type": _STR_OR_NULL, "properties": _OBJECT, "summary": _STR_OR_NULL},
        ["key", "name"],
        key_field="key",
        indexed_fields=["name", "entity_type"],
        embedding_fields=["summary"],
    ),
    "moments": _table(
        "moments",
        "Time-bounded events: meetings, conversations, observations.",
        {
            "name": _STR,
            "summary": _STR_OR_NULL,
            "start_time": _TS,
            "end_time": _TS_OR_NULL,
            "moment_type": _STR_OR_NULL,
            "tags": _STR_LIST,
            "people": _STR_LIST,
            "resource_ids": _STR_LIST,
            "metadata": _OBJECT,
        },
        ["name", "start_time"],
        indexed_fields=["start_time", "end_time", "moment_type", "tags", "people"],
        embedding_fields=["summary"],
    ),
    "agentlets": _table(
        "agentlets",
        "Agent definitions: a prompt, the tools and resources it may use, the schema of its output.",
        {
            "name": _STR,
            "description": {"type": "string", "default": ""},
            "system_prompt": _STR_OR_NULL,
            "tools": _STR_LIST,
            "resources": _STR_LIST,
            "output_schema": _OBJECT,
        },
        ["name"],
        key_field="name",
        embedding_fields=["description"],
    ),
    "sessions": _table(
        "sessions",
        "Conversations between a user and an agent.",
        {
            "name": _STR_OR_NULL,
            "user_id": _STR_OR_NULL,
            "agent": _STR_OR_NULL,
            "started_at": _TS_OR_NULL,
            "metadata": _OBJECT,
        },
        [],
        indexed_fields=["user_id", "agent"],
    ),
    "messages": _table(
        "messages",
        "Messages within a session.",
        {
            "session_id": _STR,
            "role": {"type": "string", "enum": ["system", "user", "assistant", "tool"]},
            "content": {"type": "string", "default": ""},
            "metadata": _OBJECT,
        },
        ["session_id", "role"],
        indexed_fields=["session_id", "role"],
        embedding_fields=["content"],
    ),
}
