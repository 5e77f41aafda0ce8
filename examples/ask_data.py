"""A small graph for docs/ask.md's questions: carriers and their shipments (some delayed, sent last
month), people and the documents they wrote or reviewed.

    import remlite
    from examples.ask_data import load
    db = remlite.connect("./data")
    load(db)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import remlite

CARRIERS = {
    "name": "carriers",
    "description": "Shipping companies",
    "properties": {"name": {"type": "string"}, "country": {"type": "string"}},
    "key_field": "name",
    "indexed_fields": ["country"],
}
SHIPMENTS = {
    "name": "shipments",
    "properties": {
        "code": {"type": "string"},
        "status": {"type": "string", "enum": ["delayed", "delivered", "in_transit"]},
        "shipped_at": {"type": "string", "format": "date-time"},
    },
    "key_field": "code",
    "indexed_fields": ["status", "shipped_at"],
}
PEOPLE = {
    "name": "people",
    "properties": {"name": {"type": "string"}, "team": {"type": "string"}},
    "key_field": "name",
    "indexed_fields": ["team"],
}
DOCUMENTS = {
    "name": "documents",
    "properties": {"title": {"type": "string"}, "body": {"type": "string"}},
    "key_field": "title",
    "embedding_fields": ["body"],
}


def load(db: remlite.Database) -> None:
    """Register the four tables and write the rows and edges (an upsert: running it again changes nothing)."""
    for schema in (CARRIERS, SHIPMENTS, PEOPLE, DOCUMENTS):
        db.register_schema(schema)
    first_of_month = datetime.now(UTC).replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    last_month = (first_of_month - timedelta(days=1)).replace(day=10)
    carriers = {name: db.insert("carriers", {"name": name, "country": country})
                for name, country in [("DHL", "DE"), ("UPS", "US"), ("La Poste", "FR")]}
    shipments = [("S-1001", "delayed", "DHL"), ("S-1002", "delayed", "DHL"), ("S-1003", "delayed", "UPS"),
                 ("S-1004", "delivered", "UPS"), ("S-1005", "delivered", "La Poste")]
    for code, status, carrier in shipments:
        shipment = db.insert("shipments", {"code": code, "status": status, "shipped_at": last_month.isoformat()})
        db.add_edge(shipment, carriers[carrier], "carried_by")
    people = {name: db.insert("people", {"name": name, "team": team})
              for name, team in [("Alice Johnson", "payments"), ("Bo Chen", "platform"), ("Chidi Okafor", "payments")]}
    documents = [
        ("Payment service code review", "Review of the payment service code: retries, idempotency keys, refunds.",
         "Alice Johnson", ["Bo Chen", "Chidi Okafor"]),
        ("Rate limiting design", "How the API gateway limits requests per key and per tenant.", "Bo Chen",
         ["Alice Johnson"]),
    ]
    for title, body, author, reviewers in documents:
        document = db.insert("documents", {"title": title, "body": body})
        db.add_edge(people[author], document, "authored")
        for reviewer in reviewers:
            db.add_edge(people[reviewer], document, "reviewed")
