"""Publish when the database transaction commits: validated at once, sent by ``transaction.on_commit``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

from tchu.client import TchuClient
from tchu.envelope import Envelope
from tchu.errors import SetupError
from tchu.events import TchuEvent

logger = logging.getLogger("tchu.contrib.django")


def _sender(client: TchuClient, envelope: Envelope) -> Callable[[], None]:
    # a function, not a partial: Django names the callback by its __qualname__ when it fails
    def send_after_commit() -> None:
        client.publisher.send(envelope)
        logger.debug(
            "published %s (event %s) after commit",
            envelope.routing_key,
            envelope.event_id,
            extra={"routing_key": envelope.routing_key, "event_id": envelope.event_id},
        )

    return send_after_commit


def publish_on_commit(
    target: TchuEvent | TchuClient,
    topic: str | None = None,
    data: Any = None,
    *,
    using: str | None = None,
    robust: bool = False,
    correlation_id: str | None = None,
) -> str:
    """Validate an event now and publish it when the current transaction commits; return its event id.

    ``target`` is a :class:`~tchu.events.TchuEvent` after ``serialize_request()``, or a
    :class:`~tchu.client.TchuClient` with ``topic`` and ``data``. The payload is checked against the catalog
    (and was checked by the event's serializer) at the call, so an invalid one raises here and nothing is
    queued. The event is sent by ``transaction.on_commit`` on database ``using``: after the outermost atomic
    block commits, never when it (or the savepoint it was queued in) rolls back, and at once outside a
    transaction. Its id, correlation id and publish time are fixed at the call.

    ``robust=True`` makes a failing send log the error after the commit (Django's ``on_commit(robust=True)``)
    instead of raising from the block's exit; either way the data stays committed.

    Raises:
        PayloadValidationError: the payload does not match the catalog; nothing was queued.
        SetupError: a ``TchuEvent`` without validated data, or a client without ``topic``.

    Example:
        >>> with transaction.atomic():
        ...     order = Order.objects.create(...)
        ...     event = OrderCreatedEvent()
        ...     event.serialize_request({"order_id": order.pk, ...})
        ...     publish_on_commit(event)
    """
    if isinstance(target, TchuEvent):
        if topic is not None or data is not None:
            raise TypeError("publish_on_commit(event) takes no topic or data: the event has both")
        if target.validated_data is None:
            raise SetupError(f"{type(target).__name__}: call serialize_request() before publish_on_commit()")
        client, topic, data = target.client, target.topic, target.validated_data
    else:
        client = target
        if not topic:
            raise SetupError("publish_on_commit(client, topic, data) needs the topic to publish to")
    envelope = client.publisher.envelope(topic, data, correlation_id=correlation_id)
    transaction.on_commit(_sender(client, envelope), using=using, robust=robust)
    return envelope.event_id
