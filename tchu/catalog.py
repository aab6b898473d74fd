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
    _sensitive: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sid = self.schema_id or str(self.schema.get("$id", f"schema of {self.routing_key}"))
        object.__setattr__(self, "schema_id", sid)
        sensitive = _marks_sensitive(self.schema)
        object.__setattr__(self, "_sensitive", sensitive)
        check = _compile(self.routing_key, sid, self.schema, sensitive=sensitive)
        object.__setattr__(self, "_check", check)
        object.__setattr__(self, "validate", check)  # every publish and delivery calls it: no frame in between
        response = None
        if self.response is not None:
            response_id = f"{sid}#/x-tchu/response"
            sensitive_reply = _marks_sensitive(self.response)
            response = _compile(self.routing_key, response_id, self.response, sensitive=sensitive_reply)
        object.__setattr__(self, "_check_response", response)

    def mask(self, payload: Any) -> Any:
        """``payload`` with every sensitive value (``"x-tchu-sensitive": true`` or ``writeOnly``) as ``"***"``.

        For logs and dead-letter listings; the payload itself is not changed.
        """
        return _masked(self.schema, self.schema, payload, MASK) if self._sensitive else payload

    def validate(self, payload: Any) -> None:
        """Raise :class:`PayloadValidationError` naming every failing field, or return."""
        self._check(payload)

    def validate_response(self, value: Any) -> None:
        """Check an rpc reply against the response schema (a no-op when there is none)."""
        if self._check_response is not None:
            self._check_response(value)


def meta_valid(schema: Any) -> bool:
    """Whether ``schema`` is valid JSON Schema 2020-12, its patterns included, answered fast; False may be wrong.

    jsonschema-rs checks the meta-schema and Python's ``re`` compiles every ``pattern`` and ``patternProperties``
    name (the ``regex`` format jsonschema checks). On False (or anything jsonschema-rs cannot read), ask
    jsonschema itself, which is slower but names each problem; on True it would find none.
    """
    try:
        return bool(jsonschema_rs.meta.is_valid(schema)) and _patterns_compile(schema)
    except (ValueError, TypeError):
        return False


def _patterns_compile(node: Any) -> bool:
    # Conservative: a "pattern" that is data (inside "examples", say) may fail here; jsonschema then decides.
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str) and not _compiles(value):
                return False
            if key == "patternProperties" and isinstance(value, dict) and not all(map(_compiles, value)):
                return False
            if not _patterns_compile(value):
                return False
    elif isinstance(node, list):
        return all(map(_patterns_compile, node))
    return True


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _compile(routing_key: str, schema_id: str, schema: Mapping[str, Any], *, sensitive: bool) -> Callable[[Any], None]:
    """The check of ``schema``; with ``sensitive``, its error messages never quote a value the schema marks."""
    try:
        if not meta_valid(schema):
            Draft202012Validator.check_schema(schema)  # raises SchemaError saying what is wrong
        # jsonschema-rs: about 0.5 us for a ten-field event with formats, against about 60 us for jsonschema
        validator = jsonschema_rs.Draft202012Validator(dict(schema), validate_formats=True)
    except (SchemaError, jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError, TypeError) as exc:
        raise SetupError(f"{schema_id} is not a valid JSON Schema (2020-12): {exc}") from exc

    def check(payload: Any) -> None:
        if validator.is_valid(payload):
            return
        hidden = _masked(schema, schema, payload, _HIDDEN) if sensitive else None
        found = {_problem(e, hidden) for e in validator.iter_errors(payload)}
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


def _problem(error: jsonschema_rs.ValidationError, hidden: Any) -> FieldProblem:
    parts = list(error.instance_path)
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        return FieldProblem(json_path([*parts, str(kind.property)]), "is required")
    if hidden is not None and _under_mask(hidden, parts):  # the message would quote the secret
        keyword = type(kind).__name__
        keyword = keyword[:1].lower() + keyword[1:]
        return FieldProblem(json_path(parts), f"fails {keyword} (value hidden: a sensitive field)")
    return FieldProblem(json_path(parts), error.message)


# --- sensitive fields ---------------------------------------------------------------------------------------

MASK = "***"
_HIDDEN = object()  # marks masked values while checking, so a real "***" in the data is not taken for one
_SENSITIVE_KEYS = ("x-tchu-sensitive", "writeOnly")


def _marks_sensitive(node: Any) -> bool:
    if isinstance(node, Mapping):
        return any(node.get(k) is True for k in _SENSITIVE_KEYS) or any(_marks_sensitive(v) for v in node.values())
    if isinstance(node, list):
        return any(_marks_sensitive(v) for v in node)
    return False


def _resolve(root: Mapping[str, Any], node: Any) -> Any:
    """``node`` with a local ``$ref`` (``#/$defs/...``) followed, a few levels deep."""
    for _ in range(16):
        ref = node.get("$ref") if isinstance(node, Mapping) else None
        if not isinstance(ref, str) or not ref.startswith("#"):
            return node
        target: Any = root
        for escaped in ref[1:].split("/")[1:]:
            part = escaped.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, Mapping) else None
        node = {**{k: v for k, v in node.items() if k != "$ref"}, **target} if isinstance(target, Mapping) else {}
    return node


def _masked(root: Mapping[str, Any], node: Any, value: Any, mask: Any) -> Any:
    """``value`` with the parts the schema ``node`` marks sensitive replaced by ``mask``."""
    node = _resolve(root, node)
    if not isinstance(node, Mapping):
        return value
    if any(node.get(k) is True for k in _SENSITIVE_KEYS):
        return mask
    for combinator in ("allOf", "anyOf", "oneOf"):
        for branch in node.get(combinator) or ():
            value = _masked(root, branch, value, mask)
    if isinstance(value, dict):
        return {key: _masked(root, _property_schema(node, key), item, mask) for key, item in value.items()}
    if isinstance(value, list):
        prefix = node.get("prefixItems") or []
        return [
            _masked(root, prefix[i] if i < len(prefix) else node.get("items"), item, mask)
            for i, item in enumerate(value)
        ]
    return value


def _property_schema(node: Mapping[str, Any], key: str) -> Any:
    """The schema ``node`` gives the property ``key``: its own, a matching pattern's, or additionalProperties."""
    props = node.get("properties") or {}
    if key in props:
        return props[key]
    patterns = node.get("patternProperties") or {}
    return next((sub for pattern, sub in patterns.items() if re.search(pattern, key)), node.get("additionalProperties"))


def _under_mask(hidden: Any, parts: list[str | int]) -> bool:
    node = hidden
    for part in parts:
        if node is _HIDDEN:
            return True
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
    return node is _HIDDEN


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
