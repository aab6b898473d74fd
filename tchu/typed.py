"""The runtime behind generated code: typed publish, call, subscribe and respond with Pydantic models.

Generated packages call these; they are public so hand-written code can do the same with its own models.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from tchu.catalog import EventSchema, json_path
from tchu.client import TchuClient
from tchu.context import current_event
from tchu.envelope import to_json_value
from tchu.errors import FieldProblem, PayloadError, PayloadValidationError, SetupError
from tchu.publisher import DEFAULT_CALL_TIMEOUT

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "build_model",
    "call_typed",
    "default_client",
    "publish_typed",
    "pydantic_problems",
    "respond_typed",
    "set_default_client",
    "subscribe_typed",
]
from tchu.router import Router, default_handler_id, default_router

logger = logging.getLogger("tchu.typed")

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)
H = TypeVar("H", bound=Callable[..., Any])

_client: TchuClient | None = None
_client_lock = threading.Lock()


def default_client() -> TchuClient:
    """The process-wide client generated publishers use when given none (Celery's current app)."""
    global _client  # noqa: PLW0603 -- one lazily created client per process
    with _client_lock:
        if _client is None:
            _client = TchuClient()
        return _client


def set_default_client(client: TchuClient | None) -> None:
    """Replace the process-wide client (``None`` makes the next use create a new one)."""
    global _client  # noqa: PLW0603 -- see default_client
    with _client_lock:
        _client = client


def pydantic_problems(exc: PydanticValidationError) -> list[FieldProblem]:
    """A Pydantic error's problems as JSON paths spelled like the catalog's (``$.items[0].quantity``)."""
    return [FieldProblem(json_path(error["loc"]), error["msg"]) for error in exc.errors()]


def build_model(routing_key: str, model: type[M], data: Any, *, strict: bool = False) -> M:
    """``model`` validated from ``data`` (a mapping or an instance), by field name or alias.

    ``strict`` takes values only of the declared types (no ``"7"`` for an int, no string for a datetime), as
    typed publishers do; without it, JSON data is read as Pydantic's lax mode reads it.

    Raises:
        PayloadValidationError: naming every failing field.
    """
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data, by_alias=True, by_name=True, strict=strict)
    except PydanticValidationError as exc:
        raise PayloadValidationError(routing_key, model.__name__, pydantic_problems(exc)) from exc


def _payload(
    routing_key: str, model: type[M], values: dict[str, Any], client: TchuClient, schema: EventSchema | None
) -> dict[str, Any]:
    """The JSON payload of ``model`` built from ``values``.

    On failure one error names every failing field: the catalog schema's problems, and the model's for fields
    the schema found nothing wrong with.
    """
    fields = model.model_fields
    values = {(fields[k].alias or k) if k in fields else k: v for k, v in values.items()}  # the wire names
    entry = schema or client.publisher.catalog.get(routing_key)
    try:
        instance = build_model(routing_key, model, values, strict=True)  # never convert a wrong type quietly
    except PayloadValidationError as exc:
        problems = list(exc.problems)
        if entry is not None:
            try:
                entry.validate(to_json_value(f"payload for {routing_key!r}", _as_sent(values)))
            except PayloadValidationError as schema_exc:  # the schema's words, and the model's for the rest
                covered = {p.path for p in schema_exc.problems}
                problems = [*schema_exc.problems, *(p for p in problems if p.path not in covered)]
            except PayloadError:  # a value JSON cannot carry: the model's problems already name its field
                pass
        ordered = sorted(set(problems), key=lambda p: (p.path, p.message))
        raise PayloadValidationError(routing_key, entry.schema_id if entry else exc.schema_id, ordered) from exc
    payload: dict[str, Any] = instance.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return payload


def _as_sent(value: Any) -> Any:
    """``value`` with models dumped as a typed publisher sends them: by alias, fields never set left out."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, Mapping):
        return {k: _as_sent(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_sent(v) for v in value]
    return value


def _fields(values: Mapping[str, Any], omit_none: Iterable[str]) -> dict[str, Any]:
    omit = set(omit_none)
    return {k: v for k, v in values.items() if not (v is None and k in omit)}


def publish_typed(
    routing_key: str,
    model: type[M],
    values: Mapping[str, Any],
    client: TchuClient | None = None,
    *,
    omit_none: Iterable[str] = (),
    schema: EventSchema | None = None,
) -> str:
    """Build ``model`` from keyword ``values`` and publish it; returns the event id.

    Optional fields named in ``omit_none`` are left out of the payload when ``None``. ``schema`` (a generated
    package passes its own) validates the payload whatever catalog the client has.
    """
    client = client or default_client()
    payload = _payload(routing_key, model, _fields(values, omit_none), client, schema)
    return client.publisher.publish(routing_key, payload, schema=schema)


def call_typed(
    routing_key: str,
    model: type[M],
    response: type[R],
    values: Mapping[str, Any],
    *,
    timeout: float = DEFAULT_CALL_TIMEOUT,
    client: TchuClient | None = None,
    omit_none: Iterable[str] = (),
    schema: EventSchema | None = None,
) -> R:
    """Build ``model`` from ``values``, call the responder and return its reply as ``response``."""
    client = client or default_client()
    payload = _payload(routing_key, model, _fields(values, omit_none), client, schema)
    reply = client.publisher.call(routing_key, payload, timeout=timeout, schema=schema)
    return build_model(routing_key, response, reply)


def subscribe_typed(
    pattern: str,
    models: Mapping[str, type[BaseModel]],
    handler: H,
    *,
    router: Router | None = None,
) -> H:
    """Subscribe ``handler`` to ``pattern``; it receives the model of the delivered event's routing key.

    ``models`` maps each catalog routing key the pattern may deliver to its model. Returns ``handler``.

    Raises:
        SetupError: ``models`` is empty (the pattern matches no event of the catalog).
    """
    if not models:
        raise SetupError(f"pattern {pattern!r} matches no event of the catalog, so {handler!r} would never run")
    table = dict(models)

    def handle(data: dict[str, Any]) -> Any:
        key = current_event().routing_key
        model = table.get(key)
        if model is None:  # an event newer than this package (a rolling deploy): not this handler's to type
            logger.debug("%s skips %s: no model for it in this generated package", handler.__name__, key)
            return None
        return handler(build_model(key, model, data))

    (router or default_router).add(pattern, handle, handler_id=default_handler_id(handler), name=handler.__name__)
    return handler


def respond_typed(
    routing_key: str,
    model: type[BaseModel],
    handler: H,
    *,
    router: Router | None = None,
) -> H:
    """Make ``handler`` the responder of ``routing_key``; it receives ``model`` and returns a model or dict."""

    def handle(data: dict[str, Any]) -> Any:
        result = handler(build_model(routing_key, model, data))
        if isinstance(result, BaseModel):
            return result.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return result

    (router or default_router).respond(routing_key, handler_id=default_handler_id(handler))(handle)
    return handler
