"""How edges map onto the `edges_out` / `edges_in` column families, and the storage-level helpers
the write path shares (edge keys of a record for a hard delete, liveness of endpoints).

    edges_out   src(16) ‖ encode(type) ‖ dst(16)  ->  orjson {"properties": {...}, "created_at": "..."}
    edges_in    dst(16) ‖ encode(type) ‖ src(16)  ->  ∅ (the twin; the value lives in edges_out only)

`encode` is the order-preserving string codec, so the outgoing edges of a node are the keys with
prefix `src`, those of one type the keys with prefix `src ‖ encode(type)`, and both families sort
by (node, type, neighbour). Ids are fixed-size, so a key splits as key[:16], key[16:-16], key[-16:]
without decoding anything but the type (cached: a graph has few distinct types).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from remlite import ids as idmod
from remlite.errors import InvalidInput, NotFound, shown
from remlite.schema.validate import check_json_value
from remlite.storage import codec

OUT = "edges_out"
IN = "edges_in"
DIRECTIONS = ("out", "in", "both")
_LIVE_SUFFIX = b'"deleted_at":null}'

_type_cache: dict[str, bytes] = {}
_type_names: dict[bytes, str] = {}


def encode_type(edge_type: Any) -> bytes:
    """The key form of an edge type; a type is a non-empty string (InvalidInput otherwise)."""
    cached = _type_cache.get(edge_type) if type(edge_type) is str else None
    if cached is not None:
        return cached
    if not isinstance(edge_type, str) or not edge_type:
        raise InvalidInput(f"an edge type is a non-empty string, got {shown(edge_type)}")
    encoded = codec.encode(edge_type)
    if len(_type_cache) < 100_000:
        _type_cache[edge_type] = encoded
        _type_names[encoded] = edge_type
    return encoded


def decode_type(encoded: bytes) -> str:
    name = _type_names.get(encoded)
    if name is None:
        name = codec.decode_one(encoded)[0]
        if len(_type_names) < 100_000:
            _type_names[encoded] = name
    return name


def type_prefixes(node: bytes, types: Sequence[bytes] | None) -> list[bytes]:
    """Key prefixes of a node's edges: the node alone, or one per edge type."""
    return [node] if not types else [node + t for t in types]


def encode_types(edge_type: str | Sequence[str] | None) -> list[bytes] | None:
    """`type=` of the read methods: None (every type), one type, or several (sorted, deduplicated)."""
    if edge_type is None:
        return None
    if isinstance(edge_type, str):
        return [encode_type(edge_type)]
    if not isinstance(edge_type, (list, tuple, set, frozenset)) or not edge_type:
        raise InvalidInput(f"type must be an edge type or a non-empty list of them, got {shown(edge_type)}")
    return sorted({encode_type(t) for t in edge_type})


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise InvalidInput(f"direction must be one of {', '.join(DIRECTIONS)}, not {shown(direction)}")
    return direction


def check_properties(props: Any) -> dict[str, Any]:
    if props is None:
        return {}
    if not isinstance(props, dict):
        raise InvalidInput(f"edge properties must be a JSON object, got {type(props).__name__}")
    if props:
        check_json_value(props, "edge properties")
    return props


def edge_value(props: dict[str, Any], created_at: str) -> bytes:
    try:
        return orjson.dumps({"properties": props, "created_at": created_at})
    except TypeError as exc:
        raise InvalidInput(f"edge properties are not JSON-serialisable: {exc}") from None


def edge_dict(src: bytes, tkey: bytes, dst: bytes, value: bytes | None) -> dict[str, Any]:
    doc = orjson.loads(value) if value else {"properties": {}, "created_at": None}
    return {
        "src": idmod.to_str(src),
        "dst": idmod.to_str(dst),
        "type": decode_type(tkey),
        "properties": doc.get("properties", {}),
        "created_at": doc.get("created_at"),
    }


def live_flags(store: Any, rids: Sequence[bytes]) -> list[bool]:
    """For each id: does a live (not soft-deleted) record have it? Two multi-gets, no lock."""
    if not rids:
        return []
    entries = store.cf["ids"][list(rids)]
    wanted = [(i, e[:4] + r) for i, (e, r) in enumerate(zip(entries, rids, strict=True)) if e is not None]
    out = [False] * len(rids)
    if wanted:
        values = store.cf["rows"][[k for _, k in wanted]]
        for (i, _), value in zip(wanted, values, strict=True):
            out[i] = value is not None and is_live_value(value)
    return out


def is_live_value(value: bytes) -> bool:
    """Whether a stored row is live. A row is written with `deleted_at` as one of its top-level keys;
    when it is the last one and null (the usual layout), the suffix says so without parsing: a nested
    object ending in the same text would be followed by a second `}`."""
    if value.endswith(_LIVE_SUFFIX):
        return True
    return not orjson.loads(value).get("deleted_at")


def require_live(store: Any, rids: Iterable[bytes], extra: frozenset[bytes] = frozenset()) -> None:
    """Raise NotFound naming the first id (not in `extra`) that is not a live record."""
    unique = [r for r in dict.fromkeys(rids) if r not in extra]
    for rid, ok in zip(unique, live_flags(store, unique), strict=True):
        if not ok:
            raise NotFound(f"no record with id {idmod.to_str(rid)} (an edge needs both endpoints)")


def delete_edge_ops(store: Any, batch: Any, rid: bytes) -> list[dict[str, str]]:
    """Add to `batch` the deletion of every edge touching `rid` (both directions, both twins);
    return the edges removed as {src, dst, type} for the change log."""
    out_h, in_h = store.handle[OUT], store.handle[IN]
    removed: dict[bytes, dict[str, str]] = {}
    for key in store.iter_keys(OUT, rid, codec.prefix_end(rid)):
        tkey, dst = key[16:-16], key[-16:]
        batch.delete(key, out_h)
        batch.delete(dst + tkey + rid, in_h)
        removed[key] = {"src": idmod.to_str(rid), "dst": idmod.to_str(dst), "type": decode_type(tkey)}
    for key in store.iter_keys(IN, rid, codec.prefix_end(rid)):
        tkey, src = key[16:-16], key[-16:]
        out_key = src + tkey + rid
        batch.delete(key, in_h)
        batch.delete(out_key, out_h)
        removed.setdefault(out_key, {"src": idmod.to_str(src), "dst": idmod.to_str(rid), "type": decode_type(tkey)})
    return list(removed.values())
