"""Export a catalog as an AsyncAPI 3.0 document.

    python -m codegen.asyncapi [--schemas schemas] [--out asyncapi.json] [--title TITLE] [--api-version V]
                               [--consumes SERVICE=PATTERN[,PATTERN...]]... [--produces SERVICE=KEY[,KEY...]]...

What the document says:

- Every event is a channel whose address is its routing key on the durable ``tchu_events`` topic exchange (AMQP
  channel binding ``is: routingKey``), with one message: the event's payload schema and its ``examples``.
- Every rpc topic is a channel for its request queue ``tchu.rpc.<key>`` on the default exchange (``is: queue``)
  and a reply channel with no address: replies are the responder's Celery task result, stored in the result
  backend under the request's task id. Operations on an rpc channel carry an AsyncAPI ``reply``.
- Schemas live in ``components/schemas``: one per event payload and rpc reply, and one per shared definition
  (``_defs/money.json`` becomes ``Money``), referenced with ``$ref``. The catalog is JSON Schema 2020-12 and an
  AsyncAPI Schema Object is a superset of draft-07; the two agree on every keyword the conversion keeps, and a
  ``$ref`` with sibling keywords becomes an ``allOf``. A payload using a keyword only 2020-12 has
  (``prefixItems``, ``unevaluatedProperties``, ``dependentRequired``, ...) is kept as a multi-format schema with
  ``schemaFormat: application/schema+json;version=2020-12`` instead of being silently weakened.
- Operations say which service does what: ``<service>.send.<key>`` and ``<service>.receive.<key>``. An event's
  ``x-tchu.owner`` publishes it, and so does every service whose ``producers`` entry lists its key; every service
  with a ``consumers`` pattern matching the key receives it (a ``#`` subscriber receives every event). An rpc
  topic's owner answers it, as does a service subscribed with the exact key; services whose ``producers`` entry
  lists the key call it. Wildcard patterns never receive rpc requests, which do not pass through the exchange.

On the wire a message is a Celery protocol 2 task message: the AMQP body is
``[[<payload as a JSON string>], {"routing_key": <key>}, {...}]``. AsyncAPI has no way to say "this JSON string
inside that JSON array", so each message's payload is the event's own schema and its description and headers
schema state the envelope.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from codegen.consumers import discover
from tchu.catalog_files import CatalogEntry, load_catalog
from tchu.envelope import (
    CONTENT_ENCODING,
    CONTENT_TYPE,
    HEADER_CORRELATION_ID,
    HEADER_EVENT_ID,
    HEADER_PUBLISHED_AT,
    HEADER_SCHEMA_VERSION,
    HEADER_SIGNATURE,
    TASK_NAME,
)
from tchu.errors import TchuError
from tchu.topics import compile_pattern, topic_matches

__all__ = [
    "ASYNCAPI_VERSION",
    "EXCHANGE_NAME",
    "RPC_QUEUE_PREFIX",
    "RPC_TASK_NAME",
    "Roles",
    "add_catalog_arguments",
    "build",
    "main",
    "merge_services",
    "parse_services",
    "roles",
    "unmatched",
]

Services = Mapping[str, Sequence[str]]
NO_SERVICES: Services = MappingProxyType({})

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"
# The names tchu's runtime uses (tchu._celery.common), repeated so the generator never imports Celery.
EXCHANGE_NAME = "tchu_events"
RPC_TASK_NAME = "tchu.rpc.respond"
RPC_QUEUE_PREFIX = "tchu.rpc."
SERVICE_QUEUE_SUFFIX = "_queue"
SCHEMA_FORMAT_2020_12 = "application/schema+json;version=2020-12"
DEFAULT_TITLE = "tchu events"
REPLY_SUFFIX = "-reply"  # never part of a routing key (lowercase words of [a-z0-9_]), so ids cannot clash

# Where JSON Schema puts subschemas; every other keyword holds data and is copied as it is.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_ONE = frozenset(
    {
        "items", "additionalItems", "additionalProperties", "unevaluatedItems", "unevaluatedProperties", "not",
        "if", "then", "else", "contains", "propertyNames", "contentSchema",
    }
)  # fmt: skip
# Keywords of 2020-12 that draft-07 (and so the AsyncAPI Schema Object) does not have.
_ONLY_2020_12 = frozenset(
    {
        "prefixItems", "unevaluatedItems", "unevaluatedProperties", "dependentRequired", "dependentSchemas",
        "minContains", "maxContains", "contentSchema", "$anchor", "$dynamicRef", "$dynamicAnchor",
        "$recursiveRef", "$recursiveAnchor", "$vocabulary",
    }
)  # fmt: skip
_ENVELOPE_EXTRA = '{"callbacks": null, "errbacks": null, "chain": null, "chord": null}'


@dataclass(frozen=True)
class Roles:
    """Who sends and who receives the messages of one catalog entry.

    ``senders`` publish the event (or call the rpc topic). ``receivers`` maps each receiving service to the
    patterns that deliver the key to it; the owner of an rpc topic answers it without a pattern (an empty tuple).
    """

    senders: tuple[str, ...]
    receivers: Mapping[str, tuple[str, ...]]


def roles(entry: CatalogEntry, consumers: Services = NO_SERVICES, producers: Services = NO_SERVICES) -> Roles:
    """The services that send and receive ``entry``, from the owner and the given subscriptions.

    Raises:
        InvalidPatternError: a consumer pattern is not a valid subscription pattern.
    """
    key = entry.routing_key
    receivers: dict[str, tuple[str, ...]] = {}
    for service in sorted(consumers):
        patterns = [compile_pattern(p) for p in consumers[service]]
        if entry.kind == "rpc":
            hits = tuple(p.pattern for p in patterns if p.is_exact and p.pattern == key)
        else:
            hits = tuple(p.pattern for p in patterns if topic_matches(p.pattern, key))
        if hits:
            receivers[service] = hits
    senders = {service for service, keys in producers.items() if key in keys}
    if entry.owner:
        if entry.kind == "rpc":
            receivers.setdefault(entry.owner, ())
        else:
            senders.add(entry.owner)
    return Roles(tuple(sorted(senders)), dict(sorted(receivers.items())))


def parse_services(values: Iterable[str]) -> dict[str, list[str]]:
    """``["users=user.created,user.deleted", "mail=user.*"]`` as ``{"users": [...], "mail": ["user.*"]}``.

    Raises:
        ValueError: a value is not ``SERVICE=ITEM[,ITEM...]``.
    """
    services: dict[str, list[str]] = {}
    for value in values:
        service, sep, items = value.partition("=")
        names = [item.strip() for item in items.split(",") if item.strip()]
        if not sep or not service.strip() or not names:
            raise ValueError(f"{value!r}: expected SERVICE=KEY_OR_PATTERN[,KEY_OR_PATTERN...], e.g. mail=user.*")
        services.setdefault(service.strip(), []).extend(names)
    return services


def catalog_version(entries: Sequence[CatalogEntry]) -> str:
    """The first 12 hex digits of a SHA-256 over every entry's digest: it changes exactly when the catalog does."""
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e.routing_key):
        digest.update(f"{entry.routing_key}\0{entry.digest}\n".encode())
    return digest.hexdigest()[:12]


def build(
    entries: Sequence[CatalogEntry],
    *,
    consumers: Services = NO_SERVICES,
    producers: Services = NO_SERVICES,
    title: str = DEFAULT_TITLE,
    version: str | None = None,
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of a catalog (as loaded by :func:`tchu.catalog_files.load_catalog`).

    ``consumers`` maps each service to its subscription patterns (RabbitMQ wildcards), ``producers`` each
    service to the routing keys it publishes or calls; ``version`` defaults to :func:`catalog_version`.

    Raises:
        InvalidPatternError: a consumer pattern is not a valid subscription pattern.
    """
    ordered = sorted(entries, key=lambda e: e.routing_key)
    components = _Components()
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for entry in ordered:
        who = roles(entry, consumers, producers)
        payload = components.add(entry.schema, _schema_name(entry.schema, entry.routing_key, ""))
        messages[entry.routing_key] = _message(entry, payload, components)
        channels[entry.routing_key] = _channel(entry)
        reply = None
        if entry.kind == "rpc" and entry.response is not None:
            reply_id = entry.routing_key + REPLY_SUFFIX
            name = components.add(entry.response, _schema_name(entry.response, entry.routing_key, "Response"))
            messages[reply_id] = _reply_message(entry, name)
            channels[reply_id] = _reply_channel(entry, reply_id)
            reply = {
                "channel": {"$ref": f"#/channels/{reply_id}"},
                "messages": [{"$ref": f"#/channels/{reply_id}/messages/{reply_id}"}],
            }
        for action, service, extra in _operations(entry, who):
            op_id = _unique(f"{service}.{action}.{entry.routing_key}", operations)
            operations[op_id] = _operation(entry, action, service, extra, reply)
    info: dict[str, Any] = {
        "title": title,
        "version": version if version is not None else catalog_version(ordered),
        "description": (
            f"Events exchanged by tchu services through RabbitMQ: published to the durable `{EXCHANGE_NAME}` "
            "topic exchange by routing key, each service consuming from its own queue bound with its handlers' "
            "patterns, as Celery protocol 2 task messages. RPC requests go to one request queue per topic."
        ),
    }
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": info,
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"schemas": dict(sorted(components.schemas.items())), "messages": messages},
    }
    return document


def _operations(entry: CatalogEntry, who: Roles) -> list[tuple[str, str, dict[str, Any]]]:
    key = entry.routing_key
    ops: list[tuple[str, str, dict[str, Any]]] = []
    for service in who.senders:
        role = "owner" if service == entry.owner else "producer"
        summary = f"{service} calls {key}" if entry.kind == "rpc" else f"{service} publishes {key}"
        ops.append(("send", service, {"summary": summary, "x-tchu": {"service": service, "role": role}}))
    for service, patterns in who.receivers.items():
        ext: dict[str, Any] = {"service": service}
        if entry.kind == "rpc":
            summary = f"{service} answers {key} from the queue {RPC_QUEUE_PREFIX}{key}"
            ext["role"] = "owner" if service == entry.owner else "responder"
        else:
            queue = service + SERVICE_QUEUE_SUFFIX
            summary = f"{service} receives {key} on its queue {queue}, bound with {', '.join(patterns)}"
            ext.update(queue=queue, patterns=list(patterns))
        ops.append(("receive", service, {"summary": summary, "x-tchu": ext}))
    return ops


def _operation(
    entry: CatalogEntry, action: str, service: str, extra: dict[str, Any], reply: dict[str, Any] | None
) -> dict[str, Any]:
    key = entry.routing_key
    op: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{key}"},
        "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
        "summary": extra["summary"],
    }
    if action == "send":
        op["bindings"] = {"amqp": {"deliveryMode": 2, "bindingVersion": AMQP_BINDING_VERSION}}
    else:
        op["bindings"] = {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING_VERSION}}
    if reply is not None:
        op["reply"] = copy.deepcopy(reply)
    op["x-tchu"] = {**extra["x-tchu"], "service": service}
    return op


def _channel(entry: CatalogEntry) -> dict[str, Any]:
    key = entry.routing_key
    channel: dict[str, Any]
    if entry.kind == "rpc":
        queue = RPC_QUEUE_PREFIX + key
        channel = {
            "address": queue,
            "title": key,
            "description": (
                f"Requests of the rpc topic `{key}`: published through the default exchange to the durable queue "
                f"`{queue}`, which every worker with a responder for `{key}` consumes, so each request is answered "
                f"once. They never pass through `{EXCHANGE_NAME}`."
            ),
            "bindings": {
                "amqp": {
                    "is": "queue",
                    "queue": {"name": queue, "durable": True, "exclusive": False, "autoDelete": False},
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        }
    else:
        channel = {
            "address": key,
            "title": key,
            "description": (
                f"Events published to the `{EXCHANGE_NAME}` topic exchange with the routing key `{key}`. Each "
                f"service's durable queue (`<service>{SERVICE_QUEUE_SUFFIX}`) is bound with its handlers' patterns, "
                "so every service with a pattern matching the key gets its own copy."
            ),
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {"name": EXCHANGE_NAME, "type": "topic", "durable": True, "autoDelete": False},
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        }
    channel["messages"] = {key: {"$ref": f"#/components/messages/{key}"}}
    return channel


def _reply_channel(entry: CatalogEntry, reply_id: str) -> dict[str, Any]:
    return {
        "address": None,
        "title": f"{entry.routing_key} reply",
        "description": (
            f"Replies to `{entry.routing_key}`. A reply is the responder's Celery task result, stored in the result "
            "backend (Redis, or Celery's `rpc://` backend, which uses the caller's `reply_to` queue) under the "
            "request's task id, the `id` header of the request; its address is therefore not known upfront."
        ),
        "messages": {reply_id: {"$ref": f"#/components/messages/{reply_id}"}},
    }


def _message(entry: CatalogEntry, payload: str, components: _Components) -> dict[str, Any]:
    key = entry.routing_key
    rpc = entry.kind == "rpc"
    task = RPC_TASK_NAME if rpc else TASK_NAME
    title = entry.schema.get("title")
    if rpc:
        route = f"Sent through the default exchange to the queue `{RPC_QUEUE_PREFIX}{key}`"
    else:
        route = f"Published to the `{EXCHANGE_NAME}` topic exchange with the routing key `{key}`"
    description = (
        f"{route}. On the wire this is a Celery protocol 2 task message for the task `{task}`: the AMQP body is "
        f'the JSON array `[["<payload>"], {{"routing_key": "{key}"}}, {_ENVELOPE_EXTRA}]`, where `<payload>` is '
        "the payload described here, encoded as a JSON string. tchu's event id, correlation id, publish time and "
        f"schema version travel in the headers, so the payload is exactly the {'request' if rpc else 'event'}'s data."
    )
    if entry.deprecated:
        description = f"**Deprecated.** {description}"
    message: dict[str, Any] = {
        "name": key,
        "title": title if isinstance(title, str) and title else key,
    }
    if entry.description:
        message["summary"] = entry.description
    message.update(
        description=description,
        contentType=CONTENT_TYPE,
        headers={"$ref": f"#/components/schemas/{components.headers(rpc=rpc)}"},
        payload={"$ref": f"#/components/schemas/{payload}"},
    )
    if rpc:
        message["correlationId"] = {
            "description": "The Celery task id of the request; the reply is stored under it.",
            "location": "$message.header#/id",
        }
    else:
        message["correlationId"] = {
            "description": "The correlation id tchu carries from event to event (the event id of a new chain).",
            "location": f"$message.header#/{HEADER_CORRELATION_ID}",
        }
    if entry.deprecated:
        message["deprecated"] = True
    if entry.examples:
        message["examples"] = [
            {"name": f"{key}.example{i}", "payload": copy.deepcopy(example)}
            for i, example in enumerate(entry.examples, start=1)
        ]
    message["bindings"] = {"amqp": {"contentEncoding": CONTENT_ENCODING, "bindingVersion": AMQP_BINDING_VERSION}}
    message["x-tchu"] = {
        "routingKey": key,
        "kind": entry.kind,
        "version": entry.version,
        "owner": entry.owner,
        "deprecated": entry.deprecated,
        "source": entry.source,
        "task": task,
    }
    return message


def _reply_message(entry: CatalogEntry, payload: str) -> dict[str, Any]:
    return {
        "name": entry.routing_key + REPLY_SUFFIX,
        "title": f"{entry.routing_key} reply",
        "description": (
            f"What a responder to `{entry.routing_key}` returns, checked against this schema before it is stored as "
            "the request's Celery task result. A responder that raises sends no reply; the caller gets a "
            "`RemoteError` instead."
        ),
        "contentType": CONTENT_TYPE,
        "payload": {"$ref": f"#/components/schemas/{payload}"},
        "x-tchu": {"routingKey": entry.routing_key, "kind": "rpc-reply", "source": entry.source},
    }


def _headers_schema(task: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The AMQP application headers: Celery's task message headers and tchu's own.",
        "properties": {
            "task": {"const": task, "description": "The Celery task that handles the message."},
            "id": {"type": "string", "description": "The Celery task id; tchu uses the event id."},
            "root_id": {"type": "string"},
            "lang": {"const": "py"},
            "origin": {"type": "string", "description": "pid@host of the sending process."},
            "ignore_result": {"type": "boolean"},
            "expires": {"type": "string", "format": "date-time", "description": "Workers drop the task after it."},
            HEADER_EVENT_ID: {"type": "string", "description": "The event id."},
            HEADER_CORRELATION_ID: {"type": "string", "description": "The correlation id."},
            HEADER_PUBLISHED_AT: {"type": "string", "format": "date-time", "description": "When it was published."},
            HEADER_SCHEMA_VERSION: {"type": "integer", "description": "x-tchu.version of the publisher's schema."},
            HEADER_SIGNATURE: {"type": "string", "description": "HMAC signature, when the publisher signs."},
        },
        "required": ["task", "id"],
    }


def _schema_name(schema: Mapping[str, Any], routing_key: str, suffix: str) -> str:
    title = schema.get("title")
    if isinstance(title, str) and title.isidentifier():
        return title
    words = re.split(r"[._]", routing_key)
    return "".join(w.capitalize() for w in words if w) + suffix


def _unique(base: str, taken: Container[str]) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}{n}"
    return name


def _component_name(key: str) -> str:
    return re.sub(r"[^\w.\-]", "_", key, flags=re.ASCII) or "Schema"


class _Components:
    """``components/schemas``: payloads, and shared definitions kept once when several payloads embed them."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}
        self.shared: set[str] = set()
        self._headers: dict[bool, str] = {}

    def headers(self, *, rpc: bool) -> str:
        if rpc not in self._headers:
            name = _unique("CeleryRpcHeaders" if rpc else "CeleryEventHeaders", self.schemas)
            self.schemas[name] = _headers_schema(RPC_TASK_NAME if rpc else TASK_NAME)
            self._headers[rpc] = name
        return self._headers[rpc]

    def add(self, schema: Mapping[str, Any], base: str) -> str:
        """Add a resolved payload schema (its definitions under ``$defs``); returns its component name."""
        name = _unique(_component_name(base), self.schemas)
        self.schemas[name] = {}  # reserved before the definitions are named
        if _uses_2020_12_only(schema):
            body = {k: v for k, v in schema.items() if k not in {"$schema", "$id"}}
            prefix = f"#/components/schemas/{name}/schema"
            self.schemas[name] = {
                "schemaFormat": SCHEMA_FORMAT_2020_12,
                "schema": _convert(body, lambda ref: prefix + ref[1:] if ref.startswith("#") else ref, wrap=False),
            }
            return name
        defs = schema.get("$defs")
        defs = defs if isinstance(defs, dict) else {}
        mapping = self._share(defs, name)
        body = {k: v for k, v in schema.items() if k not in {"$defs", "$schema", "$id"}}
        self.schemas[name] = _convert(body, _rewriter(mapping, name))
        return name

    def _share(self, defs: Mapping[str, Any], root: str) -> dict[str, str]:
        """Name each definition: reuse a shared component with the same content, else take a free name."""
        mapping: dict[str, str] = {}
        for key in sorted(defs):
            mapping[key] = _unique(_component_name(key), set(mapping.values()))
        for _ in range(len(defs) + 1):
            converted = {k: _convert(defs[k], _rewriter(mapping, root)) for k in defs}
            conflicts = [
                k for k in sorted(defs) if mapping[k] in self.schemas and not self._same(mapping[k], converted[k])
            ]
            if not conflicts:
                break
            pending = set(conflicts)
            for key in conflicts:
                pending.discard(key)
                others = {v for k, v in mapping.items() if k != key and k not in pending}
                same = [n for n in sorted(self.shared) if n not in others and self._same(n, converted[key])]
                mapping[key] = same[0] if same else _unique(mapping[key], self.schemas.keys() | others)
        else:  # references between definitions kept changing each other's content: share nothing
            taken = set(self.schemas)
            for key in sorted(defs):
                mapping[key] = _unique(_component_name(key), taken)
                taken.add(mapping[key])
            converted = {k: _convert(defs[k], _rewriter(mapping, root)) for k in defs}
        for key in sorted(defs):
            if mapping[key] not in self.schemas:
                self.schemas[mapping[key]] = converted[key]
                self.shared.add(mapping[key])
        return mapping

    def _same(self, name: str, schema: Any) -> bool:
        return name in self.shared and self.schemas[name] == schema


def _rewriter(mapping: Mapping[str, str], root: str) -> Callable[[str], str]:
    """Rewrite the ``$ref`` of a bundled schema: ``#/$defs/<key>...`` to its component, other ``#...`` to root."""

    def rewrite(ref: str) -> str:
        if ref.startswith("#/$defs/"):
            first, sep, rest = ref.removeprefix("#/$defs/").partition("/")
            key = first.replace("~1", "/").replace("~0", "~")
            if key in mapping:
                return f"#/components/schemas/{mapping[key]}{sep}{rest}"
        if ref.startswith("#"):
            return f"#/components/schemas/{root}{ref[1:]}"
        return ref

    return rewrite


def _convert(node: Any, rewrite: Callable[[str], str], *, wrap: bool = True) -> Any:
    """A copy of a schema with its ``$ref`` rewritten and ``$schema``/``$id`` dropped.

    With ``wrap``, a ``$ref`` that has sibling keywords becomes ``allOf: [{"$ref": ...}]`` beside them: in
    draft-07 (and AsyncAPI) siblings of ``$ref`` are ignored, in 2020-12 they apply.
    """
    if not isinstance(node, dict):
        return copy.deepcopy(node)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in {"$schema", "$id"}:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _convert(sub, rewrite, wrap=wrap) for name, sub in value.items()}
        elif (key in _SCHEMA_LISTS or key in _SCHEMA_ONE) and isinstance(value, list):
            out[key] = [_convert(sub, rewrite, wrap=wrap) for sub in value]
        elif key in _SCHEMA_ONE:
            out[key] = _convert(value, rewrite, wrap=wrap)
        elif key == "$ref" and isinstance(value, str):
            out[key] = rewrite(value)
        else:
            out[key] = copy.deepcopy(value)
    if wrap and "$ref" in out and len(out) > 1:
        ref = {"$ref": out.pop("$ref")}
        out["allOf"] = [ref, *out.get("allOf", [])]
    return out


def _uses_2020_12_only(node: Any) -> bool:
    if not isinstance(node, dict):
        return False
    for key, value in node.items():
        if key in _ONLY_2020_12:
            return True
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            subs: list[Any] = list(value.values())
        elif (key in _SCHEMA_LISTS or key in _SCHEMA_ONE) and isinstance(value, list):
            subs = value
        elif key in _SCHEMA_ONE:
            subs = [value]
        else:
            continue
        if any(_uses_2020_12_only(sub) for sub in subs):
            return True
    return False


def unmatched(entries: Sequence[CatalogEntry], consumers: Services, producers: Services) -> list[str]:
    """Warnings for consumer patterns that match no catalog entry and producer keys the catalog lacks."""
    keys = {e.routing_key for e in entries}
    events = [e.routing_key for e in entries if e.kind == "event"]
    warnings = [
        f"{service} subscribes to {pattern!r}, which matches no event of the catalog"
        for service, patterns in sorted(consumers.items())
        for pattern in patterns
        if pattern not in keys and not any(topic_matches(pattern, k) for k in events)
    ]
    warnings += [
        f"{service} produces {key!r}, which is not in the catalog"
        for service, produced in sorted(producers.items())
        for key in produced
        if key not in keys
    ]
    return warnings


def _services(value: str) -> dict[str, list[str]]:
    try:
        return parse_services([value])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_catalog_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--schemas``, ``--consumes`` and ``--produces``, the options every catalog export takes."""
    parser.add_argument("--schemas", default="schemas", type=Path, help="catalog folder (default: schemas)")
    parser.add_argument(
        "--consumes",
        action="append",
        default=[],
        type=_services,
        metavar="SERVICE=PATTERN[,PATTERN]",
        help="a service and its subscription patterns (repeatable), e.g. analytics='user.*,#'",
    )
    parser.add_argument(
        "--produces",
        action="append",
        default=[],
        type=_services,
        metavar="SERVICE=KEY[,KEY]",
        help="a service and the routing keys it publishes or calls (repeatable), e.g. web=user.validate",
    )
    parser.add_argument(
        "--code",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="a source folder scanned (never imported) for the services' subscriptions and publishes (repeatable)",
    )


def services_of(
    args: argparse.Namespace, entries: Sequence[CatalogEntry]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Consumers and producers from ``--consumes``/``--produces`` plus what a scan of ``--code`` finds."""
    consumers = merge_services(args.consumes)
    producers = merge_services(args.produces)
    if args.code:
        found = discover(args.code, routing_keys=[e.routing_key for e in entries])
        consumers = merge_services([consumers, found.services()])
        producers = merge_services([producers, found.producers()])
    return consumers, producers


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m codegen.asyncapi", description="Export the event catalog as an AsyncAPI 3.0 document (JSON)."
    )
    add_catalog_arguments(parser)
    parser.add_argument("--out", default="asyncapi.json", type=Path, help="file to write (default: asyncapi.json)")
    parser.add_argument("--title", default=DEFAULT_TITLE, help=f"info.title (default: {DEFAULT_TITLE!r})")
    parser.add_argument("--api-version", help="info.version (default: a digest of the catalog)")
    return parser


def merge_services(parts: Iterable[Mapping[str, Sequence[str]]]) -> dict[str, list[str]]:
    """Several ``SERVICE=...`` options as one mapping (a service named twice gets both lists)."""
    merged: dict[str, list[str]] = {}
    for part in parts:
        for service, items in part.items():
            merged.setdefault(service, []).extend(items)
    return merged


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        entries = load_catalog(args.schemas, label=args.schemas.resolve().name or "schemas")
        consumers, producers = services_of(args, entries)
        document = build(entries, consumers=consumers, producers=producers, title=args.title, version=args.api_version)
        warnings = unmatched(entries, consumers, producers)
    except TchuError as exc:  # CatalogError, InvalidPatternError: one line each, no traceback
        sys.stderr.write(f"error: {exc}\n")
        return 1
    for warning in warnings:
        sys.stderr.write(f"warning: {warning}\n")
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    sys.stdout.write(
        f"wrote {out}: AsyncAPI {ASYNCAPI_VERSION}, {len(entries)} catalog entries, {len(document['channels'])} "
        f"channels, {len(document['operations'])} operations\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
