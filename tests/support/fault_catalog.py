"""The schema of the fault-injection suite's events, shared by its publisher and its services."""

from __future__ import annotations

from tchu import Catalog, EventSchema

KEYS = ("fault.event", "fault.flaky")
SCHEMA = {
    "type": "object",
    "required": ["n"],
    "properties": {"n": {"type": "integer", "minimum": 0}, "hold": {"type": "boolean"}},
    "additionalProperties": False,
}


def register(catalog: Catalog) -> Catalog:
    """Add the fault events to ``catalog``; returns it."""
    for key in KEYS:
        catalog.register(EventSchema(key, SCHEMA))
    return catalog
