"""The runtime's view of the event catalog: one JSON Schema per routing key, validators compiled once.

A generated package registers its embedded schemas here when imported; the publisher validates against them
before sending and the dispatcher before handing a payload to any handler.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from tchu.errors import FieldProblem, PayloadValidationError, SetupError
from tchu.topics import validate_routing_key

Kind = Literal["event", "rpc"]


@dataclass(frozen=True)
class EventSchema:
    """One catalog entry: the payload schema of a routing key, and the reply schema of an rpc topic."""

    routing_key: str
    schema: Mapping[str, Any]
    kind: Kind = "event"
    version: int | None = None
    response: Mapping[str, Any] | None = None
    schema_id: str = ""
    owner: str | None = None
    deprecated: bool = False
    _check: Callable[[Any], None] = field(init=False, repr=False, compare=False)
    _check_response: Callable[[Any], None] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sid = self.schema_id or str(self.schema.get("$id", f"schema of {self.routing_key}"))
        object.__setattr__(self, "schema_id", sid)
        object.__setattr__(self, "_check", _compile(self.routing_key, sid, self.schema))
        response = None
        if self.response is not None:
            response = _compile(self.routing_key, f"{sid}#/x-tchu/response", self.response)
        object.__setattr__(self, "_check_response", response)

    def validate(self, payload: Any) -> None:
        """Raise :class:`PayloadValidationError` naming every failing field, or return."""
        self._check(payload)

    def validate_response(self, value: Any) -> None:
        """Check an rpc reply against the response schema (a no-op when there is none)."""
        if self._check_response is not None:
            self._check_response(value)


def _compile(routing_key: str, schema_id: str, schema: Mapping[str, Any]) -> Callable[[Any], None]:
    try:
        Draft202012Validator.check_schema(schema)
        # jsonschema-rs: about 0.5 us for a ten-field event with formats, against about 60 us for jsonschema
        validator = jsonschema_rs.Draft202012Validator(dict(schema), validate_formats=True)
    except (SchemaError, jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError, TypeError) as exc:
        raise SetupError(f"{schema_id} is not a valid JSON Schema (2020-12): {exc}") from exc

    def check(payload: Any) -> None:
        if validator.is_valid(payload):
            return
        found = {_problem(e) for e in validator.iter_errors(payload)}
        problems = sorted(found, key=lambda p: (p.path, p.message))
        raise PayloadValidationError(routing_key, schema_id, problems)

    return check


_IDENTIFIER = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")  # jsonschema's rule for writing .name in a json_path


def json_path(parts: Iterable[str | int]) -> str:
    """``$.items[0].quantity`` for ``["items", 0, "quantity"]``; odd names as ``$['x-y']``."""
    path = "$"
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.match(part):
            path += f".{part}"
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            path += f"['{escaped}']"
    return path


def _problem(error: jsonschema_rs.ValidationError) -> FieldProblem:
    parts = list(error.instance_path)
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        return FieldProblem(json_path([*parts, str(kind.property)]), "is required")
    return FieldProblem(json_path(parts), error.message)


class Catalog:
    """Schemas by routing key. ``strict`` makes publishing to a key not in the catalog an error."""

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict
        self._entries: dict[str, EventSchema] = {}
        self._lock = threading.Lock()

    def register(self, entry: EventSchema) -> EventSchema:
        """Add or replace the schema of ``entry.routing_key``; returns it."""
        validate_routing_key(entry.routing_key)
        with self._lock:
            self._entries[entry.routing_key] = entry
        return entry

    def get(self, routing_key: str) -> EventSchema | None:
        """The entry for ``routing_key``, or ``None`` when the catalog does not know it."""
        return self._entries.get(routing_key)

    def keys(self) -> list[str]:
        """Every routing key in the catalog, sorted."""
        return sorted(self._entries)

    def unregister(self, routing_key: str) -> EventSchema | None:
        """Forget the schema of ``routing_key``; returns it, or ``None`` when there was none."""
        with self._lock:
            return self._entries.pop(routing_key, None)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()


default_catalog = Catalog()
