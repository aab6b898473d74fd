"""The events the benchmarks send, with their schemas: the same for every implementation compared.

``PAYLOAD`` is the 254-byte ``user.created`` event of the published figures (as JSON with the standard
separators). ``LATENCY_KEY`` events are that payload plus ``sent_at``, the publisher's ``time.time()`` right
before the publish call, so a handler in another process measures the end-to-end latency on the same clock.
``RPC_KEY`` is a call with a small request and reply.
"""

from __future__ import annotations

from typing import Any

from tchu.catalog import Catalog, EventSchema

KEY = "user.created"
LATENCY_KEY = "bench.latency"
RPC_KEY = "bench.rpc"

PAYLOAD: dict[str, Any] = {
    "user_id": 123456,
    "email": "ada.lovelace@example.com",
    "name": "Ada Lovelace",
    "plan": "enterprise",
    "referrer_id": 98765,
    "created_at": "2026-01-05T09:30:00+00:00",
    "tags": ["early", "admin", "beta"],
    "note": "pads this JSON body to 254 bytes in all",
}
RPC_REQUEST: dict[str, Any] = {"user_id": 123456, "email": "ada.lovelace@example.com"}
RPC_REPLY: dict[str, Any] = {"valid": True}

_PROPERTIES: dict[str, Any] = {
    "user_id": {"type": "integer", "minimum": 1},
    "email": {"type": "string", "format": "email"},
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "plan": {"enum": ["free", "pro", "enterprise"]},
    "referrer_id": {"type": ["integer", "null"]},
    "created_at": {"type": "string", "format": "date-time"},
    "tags": {"type": "array", "items": {"type": "string"}},
    "note": {"type": "string"},
}

# the payload's schema, formats included: tchu's figures are with validation at publish and at delivery
SCHEMA = EventSchema(
    KEY,
    {
        "type": "object",
        "required": ["user_id", "email", "name"],
        "additionalProperties": False,
        "properties": _PROPERTIES,
    },
)
LATENCY_SCHEMA = EventSchema(
    LATENCY_KEY,
    {
        "type": "object",
        "required": ["user_id", "email", "name", "sent_at"],
        "additionalProperties": False,
        "properties": {**_PROPERTIES, "sent_at": {"type": "number"}},
    },
)
RPC_SCHEMA = EventSchema(
    RPC_KEY,
    {
        "type": "object",
        "required": ["user_id", "email"],
        "additionalProperties": False,
        "properties": {"user_id": {"type": "integer", "minimum": 1}, "email": {"type": "string", "format": "email"}},
    },
    kind="rpc",
    response={
        "type": "object",
        "required": ["valid"],
        "additionalProperties": False,
        "properties": {"valid": {"type": "boolean"}},
    },
)


def catalog() -> Catalog:
    """A catalog of the three benchmark events, as publishers and services of the benchmarks use it."""
    out = Catalog()
    for entry in (SCHEMA, LATENCY_SCHEMA, RPC_SCHEMA):
        out.register(entry)
    return out
