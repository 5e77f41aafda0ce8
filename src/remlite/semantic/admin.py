"""Index maintenance of `remlite.Database`: status, rebuild, and re-embedding into a new version.

Re-embedding writes the new vectors beside the old ones (a new version of the field's key space)
while the old version keeps serving reads and taking writes; at the end, under the write lock, the
rows changed since it started are re-embedded again and one WriteBatch switches the field's config
to the new version and drops the old vectors. A crash before the switch leaves the old version in
force (the half-written new version is cleared when the re-embed is retried). Every step is a
change-log entry (`ReembedVectors` chunks, then `Reembedded`), so a replica gets the same vectors
without running the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from remlite import ids as idmod
from remlite.errors import InvalidInput, shown
from remlite.graph.edges import check_chunk_size
from remlite.semantic.search import pick_field
from remlite.storage import codec
from remlite.storage.changelog import Reembedded, ReembedVectors, RowsDeleted, RowsPut
from remlite.storage.clock import now_iso

if TYPE_CHECKING:
    import numpy as np

    from remlite.core import TenantCore
    from remlite.embed import EmbeddingProvider
    from remlite.reads import Reader


class IndexAdmin:
    """index_status, rebuild_index and reembed of `remlite.Database`, and the commit of re-embed
    entries (this database's, or a source's being applied)."""

    def __init__(self, core: TenantCore, reader: Reader) -> None:
        self.core = core
        self.reader = reader

    def index_status(self, table: str | None = None) -> list[dict[str, Any]]:
        """Per embedding field: provider, model, dimension, version, stored vectors, whether the
        HNSW index is loaded and how far behind the change log it is; per text field: documents."""
        out = []
        names = [table] if table else self.core.registry.names()
        for name in names:
            vectors = self.core.vectors(name)
            for field, fv in vectors.fields.items():
                stored = sum(1 for _ in self.core.store.iter_prefix("vectors", fv.prefix)) if fv.config else 0
                out.append(
                    {
                        "table": name,
                        "field": field,
                        "kind": "vector",
                        **{k: (fv.config or {}).get(k) for k in ("provider", "model", "dimension")},
                        "metric": fv.metric,
                        "version": fv.version,
                        "vectors": stored,
                        "loaded": fv.index is not None,
                        "indexed": len(fv.index) if fv.index is not None else None,
                        "behind": (self.core.wal.seq - fv.index_seq) if fv.index is not None else None,
                        "file": str(fv.path) if fv.path.exists() else None,
                    }
                )
            for field, (_parts, index) in self.core.text(name).fields.items():
                stats = index.stats()
                out.append({"table": name, "field": field, "kind": "text", **stats})
        return out

    def vectors(self, table: str, ids: Sequence[str], field: str | None = None) -> list[np.ndarray | None]:
        """The stored vectors of rows of `table` (unit float32 arrays; None where a row has none), in
        the order of `ids`, for the field given or the table's first embedding field: what a caller
        re-ranking candidates (maximal marginal relevance) reads instead of embedding them again."""
        import numpy as np

        fields = self.core.vectors(table).fields
        fv = fields[pick_field(table, field, list(fields), "embedding")]
        if isinstance(ids, str | bytes):
            raise InvalidInput("vectors() takes a list of ids")
        found = fv.stored([idmod.to_bytes(i) for i in ids])
        return [None if raw is None else np.frombuffer(raw, dtype=np.float32).copy() for raw in found]

    def rebuild_index(self, table: str, field: str | None = None) -> dict[str, int]:
        """Rebuild HNSW indexes from the stored vectors and save them; returns vectors per field."""
        vectors = self.core.vectors(table)
        if field is not None and not isinstance(field, str):
            raise InvalidInput(f"field must be a field name (a string), got {shown(field)}")
        fields = [field] if field else list(vectors.fields)
        done = {}
        for name in fields:
            fv = vectors.fields.get(name)
            if fv is None:
                raise InvalidInput(f"{table}.{name} is not an embedding field")
            if fv.config is None:
                done[name] = 0
                continue
            with self.core.store.write_lock:
                done[name] = fv.rebuild(self.core.wal.seq, self.core.rownums)
                fv.save()
        return done

    def reembed(
        self,
        table: str,
        field: str | None = None,
        *,
        provider: str | EmbeddingProvider | None = None,
        model: str | None = None,
        chunk_size: int = 256,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Re-embed every live row's `field` with `provider`/`model` (a provider name, or a provider
        instance; default: the database's embedder) into a new version, then switch to it. Returns
        the new field config and counts."""
        from remlite.embed import EmbeddingProvider, get_provider
        from remlite.semantic.text import text_of

        check_chunk_size(chunk_size)  # a non-number failed after the new version's leftovers were cleared
        vectors = self.core.vectors(table)
        name = pick_field(table, field, list(vectors.fields), "embedding")
        fv = vectors.fields[name]
        if isinstance(provider, EmbeddingProvider):
            new_provider = provider
        else:
            new_provider = get_provider(provider, model) if (provider or model) else self.core.provider_for(None)
        describe = new_provider.describe()
        new_version = fv.version + 1
        layout = self.core.layout(table)
        start_seq = self.core.wal.seq
        total = self.core.count(table)
        done = 0

        def embed_rows(records: list[dict[str, Any]]) -> tuple[list[str], bytes]:
            parts = tuple(name.split("."))
            wanted = [(r["id"], t) for r in records if (t := text_of(r, parts))]
            if not wanted:
                return [], b""
            matrix = new_provider.embed([t for _, t in wanted])
            return [rid for rid, _ in wanted], b"".join(vector.tobytes() for vector in matrix)

        def log_chunk(records: list[dict[str, Any]], first: bool) -> None:
            ids, vectors = embed_rows(records)
            if ids or first:  # the first clears leftovers of an interrupted attempt, on replicas too
                with self.core.store.write_lock:
                    entry = ReembedVectors(self.core.next_seq, now_iso(), table, name, new_version, ids, vectors, first)
                    self.apply_reembed(entry)

        log_chunk([], True)
        chunk: list[dict[str, Any]] = []
        for record in self.reader.scan(table):
            chunk.append(record)
            if len(chunk) >= chunk_size:
                log_chunk(chunk, False)
                done += len(chunk)
                chunk = []
                if progress:
                    progress(done, total)
        log_chunk(chunk, False)
        done += len(chunk)
        if progress:
            progress(done, total)
        with self.core.store.write_lock:
            changed: set[str] = set()
            for entry in self.core.wal.iter_after(start_seq):
                if entry.table != table:
                    continue
                if isinstance(entry, RowsPut):
                    changed.update(row["id"] for row in entry.rows)
                elif isinstance(entry, RowsDeleted):
                    changed.update(entry.ids)
            live = self.core.fetch(layout, sorted(idmod.to_bytes(rid) for rid in changed)) if changed else []
            ids, vectors = embed_rows(live)
            config = {**describe, "metric": fv.metric, "version": new_version}
            switch = Reembedded(self.core.next_seq, now_iso(), table, name, config, ids, vectors, sorted(changed))
            self.apply_reembed(switch)
        return {"table": table, "field": name, **config, "rows": done, "caught_up": len(changed)}

    def apply_reembed(self, entry: ReembedVectors | Reembedded) -> None:
        """Commit a re-embed entry (this database's, or a source's being applied): a chunk of the
        new version's vectors, or the switch to it (under the field's lock, so a search sees the old
        space (config, vectors, index) or the new, never a mix). Call under the write lock."""
        fv = self.core.vectors(entry.table).fields[entry.field]
        prefix, handle = fv.prefix_of(entry.version), self.core.store.handle["vectors"]
        batch = self.core.store.batch()
        if isinstance(entry, ReembedVectors) and entry.first:
            batch.delete_range(prefix, codec.prefix_end(prefix), handle)
        if isinstance(entry, Reembedded):
            for rid in entry.removed:
                batch.delete(prefix + idmod.to_bytes(rid), handle)
        size = len(entry.vectors) // len(entry.ids) if entry.ids else 0
        for position, rid in enumerate(entry.ids):
            batch.put(prefix + idmod.to_bytes(rid), entry.vectors[position * size : (position + 1) * size], handle)
        if isinstance(entry, ReembedVectors):
            self.core.commit(batch, entry)
            return
        batch.put(fv.config_key, orjson.dumps(entry.config), handle)
        batch.delete_range(fv.prefix, codec.prefix_end(fv.prefix), handle)
        with fv.lock:
            self.core.commit(batch, entry)
            old_path = fv.path
            fv.config, fv.index, fv.index_seq, fv.unsaved = entry.config, None, 0, 0
        old_path.unlink(missing_ok=True)
