"""Read a service's dead-letter queue and send chosen entries back, to the service or to every bound service."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tchu._celery.common import BROKER_ERRORS, DLQ_SUFFIX, EXCHANGE_NAME, describe
from tchu.envelope import CONTENT_ENCODING, CONTENT_TYPE
from tchu.errors import PublishError, SetupError

DLQ_HEADER_PREFIX = "tchu_dlq_"
RETRY_HEADERS = ("tchu_attempt", "tchu_only_handlers")


@dataclass(frozen=True)
class DeadLetter:
    """One entry of a dead-letter queue: the event and why it is there."""

    event_id: str
    routing_key: str
    reason: str
    handlers: tuple[str, ...]
    attempts: int
    dead_lettered_at: str
    payload: Any
    headers: dict[str, Any] = field(repr=False)


def _task_body(message: Any) -> tuple[Any, str] | None:
    """The payload and routing key of a JSON task message; None for anything else, which is never decoded."""
    if message.properties.get("content_type") != CONTENT_TYPE:  # refused by the worker (pickle, ...)
        return None
    try:
        args, kwargs, _ = json.loads(message.body)
        payload = json.loads(args[0]) if isinstance(args[0], str) else args[0]
        return payload, str(kwargs.get("routing_key") or "")
    except (ValueError, TypeError, IndexError, AttributeError):
        return None


def _entry(message: Any) -> DeadLetter:
    headers = dict(message.headers or {})
    decoded = _task_body(message)
    if decoded is None:
        content_type = message.properties.get("content_type") or "no content type"
        payload, routing_key = f"<{len(message.body)} bytes of {content_type}, not decoded>", ""
    else:
        payload, routing_key = decoded
    routing_key = routing_key or str(headers.get("tchu_dlq_routing_key") or "")
    handlers = str(headers.get("tchu_dlq_handlers") or "")
    return DeadLetter(
        event_id=str(headers.get("tchu_event_id") or headers.get("id") or ""),
        routing_key=routing_key,
        reason=str(headers.get("tchu_dlq_reason") or ""),
        handlers=tuple(h for h in handlers.split(",") if h),
        attempts=int(headers.get("tchu_dlq_attempts") or 1),
        dead_lettered_at=str(headers.get("tchu_dlq_at") or ""),
        payload=payload,
        headers=headers,
    )


def _channel(app: Any) -> tuple[Any, Any]:
    conn = app.connection_for_write(transport_options={"confirm_publish": True})
    try:
        return conn, conn.channel()
    except BROKER_ERRORS as exc:
        conn.release()
        raise PublishError(f"cannot reach the broker: {describe(exc)}") from exc


def dead_letters(app: Any, service_queue: str, *, limit: int = 100) -> list[DeadLetter]:
    """Up to ``limit`` entries of ``<service_queue>.dlq``, oldest first; the queue is left as it was."""
    conn, channel = _channel(app)
    out: list[DeadLetter] = []
    try:  # nothing is acknowledged: releasing the connection puts every message back, in order
        while len(out) < limit:
            message = channel.basic_get(service_queue + DLQ_SUFFIX, no_ack=False)
            if message is None:
                break
            out.append(_entry(message))
    except BROKER_ERRORS as exc:
        raise PublishError(f"cannot read {service_queue + DLQ_SUFFIX}: {describe(exc)}") from exc
    finally:
        conn.release()
    return out


def replay(app: Any, service_queue: str, event_ids: Iterable[str] | None = None, *, to: str = "service") -> int:
    """Send dead-lettered events back; returns how many. Each leaves the dead-letter queue once it is confirmed.

    ``event_ids`` chooses entries (all when ``None``). ``to="service"`` delivers them to ``service_queue`` only;
    ``to="exchange"`` publishes them to ``tchu_events`` again, so every bound service receives them. Only the
    entries present when the replay starts are considered.
    """
    if to not in {"service", "exchange"}:
        raise SetupError(f"replay to 'service' or 'exchange', not {to!r}")
    wanted = None if event_ids is None else set(event_ids)
    conn, channel = _channel(app)
    count = 0
    try:
        # only what is there now: a replayed event that fails again is dead-lettered again, not replayed in a loop
        _, present, _ = channel.queue_declare(service_queue + DLQ_SUFFIX, passive=True)
        for _ in range(present):
            message = channel.basic_get(service_queue + DLQ_SUFFIX, no_ack=False)
            if message is None:
                break
            entry = _entry(message)
            if wanted is not None and entry.event_id not in wanted:
                continue  # left unacknowledged: back in the queue when the channel closes
            headers = {
                k: v for k, v in entry.headers.items() if not k.startswith(DLQ_HEADER_PREFIX) and k not in RETRY_HEADERS
            }
            exchange, key = ("", service_queue) if to == "service" else (EXCHANGE_NAME, entry.routing_key)
            raw = channel.prepare_message(
                message.body, content_type=CONTENT_TYPE, content_encoding=CONTENT_ENCODING, headers=headers,
                properties={"delivery_mode": 2, "correlation_id": entry.event_id},
            )  # fmt: skip
            channel.basic_publish(raw, exchange=exchange, routing_key=key)
            channel.basic_ack(message.delivery_tag)
            count += 1
    except BROKER_ERRORS as exc:
        raise PublishError(f"replaying from {service_queue + DLQ_SUFFIX} stopped: {describe(exc)}") from exc
    finally:
        conn.release()
    return count
