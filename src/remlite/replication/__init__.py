"""Replication from the change log: a primary streams its entries over HTTP, replicas apply them.

- `wire`: the frames of `GET /v1/changes/stream` (entries, heartbeats, an error).
- `registry`: what a primary knows of its replicas (their applied seq, for log retention) and
  what a replica knows of its primary (`replica_of`), both LOCAL keys of `meta`.
- `follower`: the replica's loop (`remlite replicate`, `remlite serve --replica-of`): stream,
  apply in order, acknowledge, reconnect with backoff, re-seed from a snapshot when too far behind.

The server side (the stream, acknowledgements, snapshots, status) is `remlite.serve.replication`.
A replica's applied sequence is its own `last_seq`: `Database.apply` commits each entry with the
primary's seq in the same batch as its data, so what a replica has applied survives any crash
exactly as its data does.
"""
