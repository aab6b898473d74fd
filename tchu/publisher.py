"""Validate, wrap and send: the path every publish and call takes, whatever the transport.

A :class:`Transport` moves envelopes; the Celery/kombu one talks to RabbitMQ. The publisher never sends a
payload its catalog rejects, so an invalid event is never half-sent.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from tchu import observability
from tchu.catalog import Catalog, EventSchema, default_catalog
from tchu.context import current_event_or_none
from tchu.envelope import Envelope
from tchu.errors import InvalidRoutingKeyError, PayloadError, RPCError, UnroutableError
from tchu.signing import SignatureError, Signer

logger = logging.getLogger("tchu.publish")

DEFAULT_CALL_TIMEOUT = 30.0
DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024


class Transport(Protocol):
    """Moves envelopes to the broker (or, in memory, straight to a dispatcher)."""

    def send(self, envelope: Envelope) -> None:
        """Publish one event to every bound queue; return once the broker took it."""

    def call(self, envelope: Envelope, timeout: float) -> Any:
        """Send an RPC request to its single responder and return the reply value."""


def send_all(transport: Transport, envelopes: list[Envelope]) -> None:
    """Send ``envelopes`` with the transport's ``send_many`` (one wait for all confirms) or one by one."""
    send_many = getattr(transport, "send_many", None)
    if callable(send_many):
        send_many(envelopes)
        return
    for envelope in envelopes:
        transport.send(envelope)


def report_unroutable(envelope: Envelope, unroutable: str) -> None:
    """What a transport does with an event no queue is bound to: ``"log"`` a warning, ``"raise"``
    :class:`UnroutableError`, or ``"ignore"``."""
    if unroutable == "ignore":
        return
    text = f"no queue is bound to {envelope.routing_key!r}: event {envelope.event_id} reached no service"
    if unroutable == "raise":
        raise UnroutableError(text)
    logger.warning(text, extra={"routing_key": envelope.routing_key, "event_id": envelope.event_id})


_TCHU_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep  # noqa: PTH100, PTH120 -- compared with co_filename


def _outside_tchu() -> int:
    """The ``stacklevel`` of the first caller outside tchu and outside generated packages (a user's line)."""
    frame = sys._getframe(1)  # noqa: SLF001 -- the stdlib way to walk callers cheaply
    level = 1
    while frame.f_back is not None and (
        frame.f_code.co_filename.startswith(_TCHU_DIR) or ("_typed" in frame.f_globals and "_SCHEMA" in frame.f_globals)
    ):
        frame = frame.f_back
        level += 1
    return level


class Publisher:
    """Builds validated envelopes and hands them to a transport.

    ``max_payload_bytes`` (default 1 MiB) bounds the encoded payload: a larger one is refused before sending.
    """

    def __init__(
        self,
        transport: Transport,
        catalog: Catalog | None = None,
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        signer: Signer | None = None,
    ) -> None:
        self.transport = transport
        self.signer = signer
        self.catalog = catalog if catalog is not None else default_catalog
        self.max_payload_bytes = max_payload_bytes
        self._local = threading.local()  # the envelopes a batch() block of this thread holds

    def envelope(
        self,
        routing_key: str,
        data: Any,
        *,
        correlation_id: str | None = None,
        schema: EventSchema | None = None,
    ) -> Envelope:
        """Validate ``data`` for ``routing_key`` and wrap it; nothing is sent.

        ``schema`` (a generated package passes its own) is used instead of the catalog's entry. Inside a handler
        the new event inherits the handled event's correlation id.

        Raises:
            InvalidRoutingKeyError: bad key, or a key not in a strict catalog.
            PayloadError: ``data`` is not a JSON object, or is larger than ``max_payload_bytes`` encoded.
            PayloadValidationError: ``data`` does not match the key's schema (every failing field named).
        """
        entry = schema or (self.catalog.get(routing_key) if isinstance(routing_key, str) else None)
        if entry is None and self.catalog.strict:
            raise InvalidRoutingKeyError(
                f"{routing_key!r} is not in the event catalog and the catalog is strict; add "
                f"schemas/{routing_key}.json and regenerate, or fix the routing key"
            )
        if entry is not None and entry.deprecated:
            warnings.warn(
                f"{routing_key!r} is deprecated in the event catalog ({entry.schema_id}); see its owner "
                f"({entry.owner or 'not set'}) for the replacement",
                DeprecationWarning,
                stacklevel=_outside_tchu(),
            )
        if correlation_id is None:
            current = current_event_or_none()
            correlation_id = current.correlation_id if current is not None else None
        env = Envelope.new(
            routing_key,
            data,
            correlation_id=correlation_id,
            schema_version=entry.version if entry is not None else None,
        )
        size = len(env.body)  # ASCII: json.dumps escapes every other character
        if size > self.max_payload_bytes:
            raise PayloadError(
                f"payload for {routing_key!r} is {size} bytes encoded, over the limit of {self.max_payload_bytes}; "
                "send a reference to the data instead, or raise max_payload_bytes"
            )
        if entry is not None:
            entry.validate(env.payload)
        if self.signer is not None:
            env = dataclasses.replace(env, signature=self.signer.sign(env))
        return env

    @contextmanager
    def batch(self) -> Iterator[list[Envelope]]:
        """Hold this thread's publishes and send them together when the block ends.

        Each publish inside is validated at once and returns its event id; the events are sent when the
        outermost ``batch`` block exits, pipelined, waiting once for all the broker's confirms. A block that
        raises sends nothing. Yields the list of held envelopes.

        Raises:
            BatchPublishError: on exit, some events were not confirmed (``unconfirmed`` names them).
        """
        held: list[Envelope] | None = getattr(self._local, "held", None)
        if held is not None:  # nested: the outermost block sends
            yield held
            return
        held = self._local.held = []
        try:
            yield held
        finally:
            self._local.held = None
        if held:
            send_all(self.transport, held)
            for env in held:
                observability.metrics().published(env.routing_key)
            logger.debug("published a batch of %d events", len(held))

    def publish(
        self, routing_key: str, data: Any, *, correlation_id: str | None = None, schema: EventSchema | None = None
    ) -> str:
        """Validate and publish one event (or hold it, inside :meth:`batch`); return its event id."""
        env = self.envelope(routing_key, data, correlation_id=correlation_id, schema=schema)
        held: list[Envelope] | None = getattr(self._local, "held", None)
        if held is not None:
            held.append(observability.with_trace_context(env))
            return env.event_id
        self.send(env)
        return env.event_id

    def send(self, env: Envelope) -> None:
        """Send an envelope made by :meth:`envelope` (validated already), traced, counted and logged."""
        observability.traced_send(env, self.transport.send)
        observability.metrics().published(env.routing_key)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "published %s (event %s)",
                env.routing_key,
                env.event_id,
                extra={
                    "routing_key": env.routing_key,
                    "event_id": env.event_id,
                    "correlation_id": env.correlation_id,
                },
            )

    def call(
        self,
        routing_key: str,
        data: Any,
        *,
        timeout: float = DEFAULT_CALL_TIMEOUT,
        correlation_id: str | None = None,
        schema: EventSchema | None = None,
    ) -> Any:
        """Validate and send an RPC request; return the responder's reply, checked against the catalog.

        With a signer, the reply's signature is checked too (see :mod:`tchu.signing`).

        Raises:
            RPCError: with a signer, the reply is unsigned (when required) or its signature does not match.
        """
        env = self.envelope(routing_key, data, correlation_id=correlation_id, schema=schema)
        reply = observability.traced_send(env, lambda traced: self.transport.call(traced, timeout))
        if self.signer is not None:
            try:
                reply = self.signer.open_reply(env, reply)
            except SignatureError as exc:
                raise RPCError(str(exc)) from exc
        entry = schema or self.catalog.get(routing_key)
        if entry is not None:
            entry.validate_response(reply)
        return reply
