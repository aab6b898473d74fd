"""The event envelope and its one encode/decode point, in tchu-tchu 2.x's wire format.

On the wire an event is a Celery task message (protocol 2) for the task ``tchu_tchu.dispatch_event`` with
args ``[<payload as a JSON string>]`` and kwargs ``{"routing_key": <key>}``. Everything tchu adds (event id,
correlation id, publish time, schema version) travels in message headers, so a tchu-tchu 2.2.3 subscriber
hands its handler exactly the payload, and a 2.2.3 publisher's events decode here with defaults for the
missing headers. tchu-tchu 3.x puts a ``_tchu_meta`` object into the payload; it is stripped on decode.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any

from tchu.errors import MessageDecodeError, PayloadError
from tchu.topics import validate_routing_key

TASK_NAME = "tchu_tchu.dispatch_event"
CONTENT_TYPE = "application/json"
CONTENT_ENCODING = "utf-8"

HEADER_EVENT_ID = "tchu_event_id"
HEADER_CORRELATION_ID = "tchu_correlation_id"
HEADER_PUBLISHED_AT = "tchu_published_at"
HEADER_SCHEMA_VERSION = "tchu_schema_version"
HEADER_SIGNATURE = "tchu_signature"
HEADER_TRACEPARENT = "traceparent"  # W3C trace context, set when OpenTelemetry is installed (tchu.observability)
HEADER_TRACESTATE = "tracestate"
TCHU_HEADERS = (
    HEADER_EVENT_ID,
    HEADER_CORRELATION_ID,
    HEADER_PUBLISHED_AT,
    HEADER_SCHEMA_VERSION,
    HEADER_SIGNATURE,
    HEADER_TRACEPARENT,
    HEADER_TRACESTATE,
)
MAX_TRACE_HEADER = 512  # longer trace context is ignored, never an error: tracing must not fail an event
LEGACY_META_KEY = "_tchu_meta"
_ABSENT = object()
_EMBED: dict[str, Any] = {}  # Celery's embed (callbacks, errbacks, chain, chord), all absent
_quoted = encode_basestring_ascii  # json.dumps of one str, in C


def _json_default(obj: object) -> Any:  # noqa: PLR0911 -- one return per converted type
    # The conversions tchu-tchu 2.2.3's serializer made, so payloads encode the same way.
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, dt.datetime | dt.date | dt.time):
        return obj.isoformat()
    if isinstance(obj, decimal.Decimal):
        return float(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    if isinstance(obj, bytes):
        return obj.decode()
    if isinstance(obj, Mapping):
        return dict(obj)
    model_dump = getattr(obj, "model_dump", None)
    if callable(model_dump):
        return model_dump(mode="json", by_alias=True)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


# Made once: json.dumps with any option builds a new encoder on every call.
_ENCODER = json.JSONEncoder(default=_json_default, separators=(",", ":"), allow_nan=False)


def to_json_value(what: str, value: Any) -> Any:
    """``value`` as plain JSON data (models dumped, UUIDs and datetimes as strings).

    Raises:
        PayloadError: naming ``what`` when JSON cannot carry the value.
    """
    try:
        return json.loads(_ENCODER.encode(value))
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"{what} cannot be encoded as JSON: {exc}") from exc


def encode_payload(routing_key: str, data: Any) -> tuple[dict[str, Any], str]:
    """Return the payload as a dict and as the JSON string that travels in ``args[0]``.

    ``data`` may be a mapping, a Pydantic model (dumped by alias), or a JSON string or bytes holding an object.

    Raises:
        PayloadError: ``data`` is not a JSON object or holds values JSON cannot carry.
    """
    if type(data) is dict:  # the common case, straight to the encoder
        return _encode(routing_key, data)
    if isinstance(data, str | bytes | bytearray):
        try:
            payload = json.loads(data)
        except ValueError as exc:
            raise PayloadError(f"payload for {routing_key!r} is a string but not JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise PayloadError(f"payload for {routing_key!r} must be a JSON object, got {type(payload).__name__}")
        data = payload  # re-encoded below: rejects NaN/Infinity and drops any BOM or UTF-16/32 encoding
    model_dump = getattr(data, "model_dump", None)
    if callable(model_dump):
        data = model_dump(mode="json", by_alias=True)
    if not isinstance(data, Mapping):
        raise PayloadError(f"payload for {routing_key!r} must be a mapping or model, got {type(data).__name__}")
    return _encode(routing_key, data)


def _encode(routing_key: str, data: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    try:
        body = _ENCODER.encode(data)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"payload for {routing_key!r} cannot be encoded as JSON: {exc}") from exc
    return json.loads(body), body


_last_second: list[tuple[int, str]] = [(-1, "")]  # a whole second and its text, swapped whole (thread-safe)


def utc_now() -> str:
    """The time as ISO 8601 in UTC with microseconds, ``2026-11-25T01:55:33.123456+00:00``."""
    now = time.time()
    whole = int(now)
    second, text = _last_second[0]
    if second != whole:  # the date and time are formatted once a second
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _last_second[0] = (whole, text)
    return f"{text}.{int((now - whole) * 1_000_000):06d}+00:00"


def new_id() -> str:
    """A random (version 4) UUID as text, what ``str(uuid.uuid4())`` gives, in a third of the time."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _in(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class TaskMessage:
    """What goes to the broker: an AMQP body, headers and properties."""

    body: bytes
    headers: dict[str, Any]
    properties: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event: its routing key, payload and the metadata tchu carries in headers."""

    routing_key: str
    payload: dict[str, Any]
    body: str
    event_id: str
    correlation_id: str
    published_at: str
    schema_version: int | None = None
    headers: Mapping[str, Any] = field(default_factory=dict)
    signature: str | None = None  # tchu.signing's HMAC, when the publisher signs
    traceparent: str | None = None  # W3C trace context of the publish (tchu.observability)
    tracestate: str | None = None

    @classmethod
    def new(
        cls,
        routing_key: str,
        data: Any,
        *,
        correlation_id: str | None = None,
        schema_version: int | None = None,
        event_id: str | None = None,
    ) -> Envelope:
        """Build an envelope for publishing: validates the key, encodes the payload, stamps ids and time."""
        validate_routing_key(routing_key)
        payload, body = encode_payload(routing_key, data)
        event_id = event_id or new_id()
        return cls(
            routing_key=routing_key,
            payload=payload,
            body=body,
            event_id=event_id,
            correlation_id=correlation_id or event_id,
            published_at=utc_now(),
            schema_version=schema_version,
        )

    def tchu_headers(self, task_id: str | None = None) -> dict[str, Any]:
        """The headers tchu adds beside Celery's own.

        The event id travels as the task id; ``tchu_event_id`` is added only when a message's ``task_id`` differs.
        """
        headers: dict[str, Any] = {HEADER_PUBLISHED_AT: self.published_at}
        if task_id is not None and task_id != self.event_id:  # a reader takes the task id when the header is absent
            headers[HEADER_EVENT_ID] = self.event_id
        if self.correlation_id != self.event_id:  # a reader takes the event id when the header is absent
            headers[HEADER_CORRELATION_ID] = self.correlation_id
        if self.schema_version is not None:
            headers[HEADER_SCHEMA_VERSION] = self.schema_version
        if self.signature is not None:
            headers[HEADER_SIGNATURE] = self.signature
        if self.traceparent is not None:
            headers[HEADER_TRACEPARENT] = self.traceparent
            if self.tracestate:
                headers[HEADER_TRACESTATE] = self.tracestate
        return headers

    def task_message(
        self,
        *,
        task_name: str = TASK_NAME,
        task_id: str | None = None,
        reply_to: str | None = None,
        origin: str = "",
        expires: float | None = None,
    ) -> TaskMessage:
        """Encode as a Celery protocol 2 message for ``task_name`` (the event dispatcher by default).

        The task id is the event id unless ``task_id`` says otherwise. ``expires`` (seconds from now) makes
        workers discard the task unrun once that time has passed.
        """
        task_id = task_id or self.event_id
        # [[<payload JSON as a string>], {"routing_key": <key>}, {}]: json.dumps of that list, put together from
        # the two escaped strings. The empty embed means what Celery's None callbacks, errbacks, chain and chord do.
        body = f'[[{_quoted(self.body)}],{{"routing_key":{_quoted(self.routing_key)}}},{{}}]'.encode()
        # Only what a Celery worker reads: the headers Celery itself sends as None or empty, or as copies of the
        # task id (root_id, the correlation_id property of a task nobody replies to), cost bytes on every event
        # and mean their defaults anyway (workers read them with .get() and fall back to the task id).
        headers: dict[str, Any] = {"task": task_name, "id": task_id, "ignore_result": reply_to is None}
        if origin:
            headers["origin"] = origin
        if expires is not None:
            headers["expires"] = _in(expires)
        headers.update(self.tchu_headers(task_id))
        properties: dict[str, Any] = {}
        if reply_to:
            properties["reply_to"] = reply_to
            properties["correlation_id"] = task_id  # the result backend matches the reply by it
        return TaskMessage(body=body, headers=headers, properties=properties)

    @classmethod
    def decode(cls, args_body: object, routing_key: object, headers: Mapping[str, Any], task_id: str) -> Envelope:
        """Rebuild an envelope from a delivered dispatcher task.

        ``args_body`` is the task's first argument (the payload JSON string), ``routing_key`` its kwarg,
        ``headers`` the task request's headers and ``task_id`` the Celery task id (the event id of publishers
        that send no tchu headers).

        Raises:
            MessageDecodeError: with the reason and the raw body kept for the dead-letter entry.
        """
        raw = args_body if isinstance(args_body, str | bytes) else None
        try:
            return cls._decode(args_body, routing_key, headers, task_id, raw)
        except MessageDecodeError:
            raise
        except Exception as exc:  # the decode boundary: anything malformed becomes a decode error
            raise MessageDecodeError(f"{type(exc).__name__}: {exc}", raw) from exc

    @classmethod
    def _decode(
        cls,
        args_body: object,
        routing_key: object,
        headers: Mapping[str, Any],
        task_id: str,
        raw: bytes | str | None,
    ) -> Envelope:
        key = validate_routing_key(routing_key)
        if isinstance(args_body, str | bytes | bytearray):
            payload = json.loads(args_body)
        elif isinstance(args_body, Mapping):
            payload = dict(args_body)  # an old publisher that sent the payload unencoded
        else:
            raise MessageDecodeError(f"payload is a {type(args_body).__name__}, not a JSON string", raw)
        if not isinstance(payload, dict):
            raise MessageDecodeError(f"payload is JSON {type(payload).__name__}, not an object", raw)
        stripped = payload.pop(LEGACY_META_KEY, _ABSENT) is not _ABSENT
        version = headers.get(HEADER_SCHEMA_VERSION)
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise MessageDecodeError(f"header {HEADER_SCHEMA_VERSION} must be an integer, got {version!r}", raw)
        event_id = _str_header(headers, HEADER_EVENT_ID, raw) or task_id
        return cls(
            routing_key=key,
            payload=payload,
            body=args_body
            if isinstance(args_body, str) and not stripped
            else json.dumps(payload, separators=(",", ":")),
            event_id=event_id,
            correlation_id=_str_header(headers, HEADER_CORRELATION_ID, raw) or event_id,
            published_at=_str_header(headers, HEADER_PUBLISHED_AT, raw) or "",
            schema_version=version,
            headers={k: headers[k] for k in TCHU_HEADERS if k in headers},
            signature=_str_header(headers, HEADER_SIGNATURE, raw),
            traceparent=_trace_header(headers, HEADER_TRACEPARENT),
            tracestate=_trace_header(headers, HEADER_TRACESTATE),
        )


def _trace_header(headers: Mapping[str, Any], name: str) -> str | None:
    """A trace context header as sent, or None when absent or malformed (tracing never fails an event)."""
    value = headers.get(name)
    return value if isinstance(value, str) and 0 < len(value) <= MAX_TRACE_HEADER else None


def _str_header(headers: Mapping[str, Any], name: str, raw: bytes | str | None) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 200:  # noqa: PLR2004 -- a sane id length
        raise MessageDecodeError(f"header {name} must be a non-empty string, got {value!r:.80}", raw)
    return value
