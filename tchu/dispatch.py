"""Hand one delivered event to the handlers that match it. Plain Python: no Celery, no broker.

The Celery task is a thin shell around :class:`Dispatcher`; what happens to the message (ack, dead-letter)
follows from the exception :meth:`Dispatcher.dispatch` raises, so every outcome is testable without a broker.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Any

from tchu import observability
from tchu.catalog import Catalog, default_catalog
from tchu.context import EventInfo, handling
from tchu.envelope import Envelope, to_json_value
from tchu.errors import HandlerError, HandlerFailure, NoHandlerError, NoResponderError, PayloadValidationError
from tchu.idempotency import IdempotencyGuard
from tchu.router import Router, default_router
from tchu.signing import SignatureError, Signer

logger = logging.getLogger("tchu.dispatch")

# What :meth:`Dispatcher.dispatch` raises when it refuses an event before any handler ran: how the refusal is
# logged, and the kind that starts its dead-letter reason (``"validation: ..."``). Workers and the in-memory broker
# dead-letter these alike.
_REJECTIONS: dict[type[Exception], tuple[str, str]] = {
    SignatureError: ("refused signature", "signature"),
    PayloadValidationError: ("invalid payload", "validation"),
    NoHandlerError: ("no handler", "no handler"),
}
REJECTED: tuple[type[Exception], ...] = tuple(_REJECTIONS)


def rejection(exc: Exception) -> tuple[str, str]:
    """For an exception of :data:`REJECTED`: what to log it as, and the dead-letter reason (``"kind: ..."``)."""
    what, kind = next(v for t, v in _REJECTIONS.items() if isinstance(exc, t))
    return what, f"{kind}: {exc}"


@dataclass(frozen=True, slots=True)
class Delivery:
    """The handlers that ran successfully for one event."""

    routing_key: str
    event_id: str
    handlers: tuple[str, ...]


def event_info(envelope: Envelope, *, redelivered: bool = False, attempt: int = 1) -> EventInfo:
    """The handler-facing metadata of ``envelope``."""
    return EventInfo(
        routing_key=envelope.routing_key,
        event_id=envelope.event_id,
        correlation_id=envelope.correlation_id,
        published_at=envelope.published_at,
        schema_version=envelope.schema_version,
        redelivered=redelivered,
        attempt=attempt,
        headers=envelope.headers,
    )


class Dispatcher:
    """Validates an event against the catalog and runs each matching handler in isolation."""

    def __init__(
        self,
        router: Router | None = None,
        catalog: Catalog | None = None,
        *,
        idempotency: IdempotencyGuard | None = None,
        signer: Signer | None = None,
    ) -> None:
        self.router = router if router is not None else default_router
        self.catalog = catalog if catalog is not None else default_catalog
        self.idempotency = idempotency
        self.signer = signer

    def dispatch(
        self,
        envelope: Envelope,
        *,
        redelivered: bool = False,
        attempt: int = 1,
        only: frozenset[str] | None = None,
    ) -> Delivery:
        """Run every handler matching ``envelope.routing_key``; a failing one does not stop the others.

        ``attempt`` counts runs of the event (1 for the first delivery); ``only`` limits a retry to the handlers
        that failed. With an idempotency guard, a handler that already completed this event id is skipped. A
        failure of a handler with a retry policy carries ``retry_in``, the seconds until it should run again, or
        ``None`` when it is final.

        Raises:
            SignatureError: the dispatcher has a signer and the event's signature is missing or wrong; no handler
                ran.
            PayloadValidationError: the payload does not match the catalog; no handler ran.
            NoHandlerError: no handler matches (the queue is bound to a pattern nobody handles).
            HandlerError: one or more handlers raised; each was logged once, the rest ran.
        """
        if self.signer is not None:
            self.signer.verify(envelope)
        entry = self.catalog.get(envelope.routing_key)
        if entry is not None:
            entry.validate(envelope.payload)
        subs = self.router.handlers_for(envelope.routing_key)
        if not subs:
            raise NoHandlerError(envelope.routing_key, envelope.event_id)
        if only is not None:
            subs = tuple(s for s in subs if s.handler_id in only)
        info = event_info(envelope, redelivered=redelivered, attempt=attempt)
        ran: list[str] = []
        failures: list[HandlerFailure] = []
        shared = len(subs) == 1
        guard = self.idempotency
        for sub in subs:
            if guard is not None and guard.completed(sub.handler_id, envelope.event_id):
                logger.info("%s already completed event %s: skipped", sub.handler_id, envelope.event_id)
                ran.append(sub.handler_id)
                continue
            payload = envelope.payload if shared else copy.deepcopy(envelope.payload)
            started = time.perf_counter()
            with handling(info, sub.handler_id), observability.handle_span(envelope, sub.handler_id) as span:
                try:
                    sub.handler(payload)
                except Exception as exc:  # noqa: BLE001 -- isolation: one handler's failure must not stop the others
                    observability.span_failed(span, exc)
                    observability.metrics().failed(envelope.routing_key, sub.handler_id, time.perf_counter() - started)
                    retry_in = sub.retry.delay(exc, attempt) if sub.retry is not None else None
                    _log_failure(envelope, sub.handler_id, attempt, retry_in, exc)
                    failures.append(HandlerFailure(sub.handler_id, type(exc).__name__, str(exc), retry_in))
                    continue
            seconds = time.perf_counter() - started
            observability.metrics().handled(envelope.routing_key, sub.handler_id, seconds)
            if guard is not None:
                guard.mark_completed(sub.handler_id, envelope.event_id)
            ran.append(sub.handler_id)
            _log_handled(envelope, sub.handler_id, seconds)
        if failures:
            raise HandlerError(envelope.routing_key, envelope.event_id, failures)
        return Delivery(envelope.routing_key, envelope.event_id, tuple(ran))

    def respond(self, envelope: Envelope) -> Any:
        """Run this service's responder for an RPC request and return its JSON-ready reply (signed, see
        :mod:`tchu.signing`, when the dispatcher has a signer and the request was signed).

        Exceptions the responder raises propagate unchanged, for the adapter to send back to the caller.

        Raises:
            SignatureError: the dispatcher has a signer and the request's signature is missing or wrong.
            PayloadValidationError: the request or the reply does not match the catalog.
            NoResponderError: this service has no responder for the key.
        """
        if self.signer is not None:
            self.signer.verify(envelope)
        entry = self.catalog.get(envelope.routing_key)
        if entry is not None:
            entry.validate(envelope.payload)
        responder = self.router.responder_for(envelope.routing_key)
        if responder is None:
            raise NoResponderError(f"this service has no responder for {envelope.routing_key!r}")
        with (
            handling(event_info(envelope), responder.handler_id),
            observability.handle_span(envelope, responder.handler_id) as span,
        ):
            try:
                result = responder.handler(envelope.payload)
            except Exception as exc:
                observability.span_failed(span, exc)
                raise
        reply = to_json_value(f"reply of {responder.handler_id} for {envelope.routing_key!r}", result)
        if entry is not None:
            entry.validate_response(reply)
        if self.signer is not None and envelope.signature is not None:  # a signed request gets a signed reply
            return self.signer.sign_reply(envelope, reply)
        return reply


def _log_handled(envelope: Envelope, handler: str, seconds: float) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "handler %s handled %s (event %s) in %.1f ms",
            handler,
            envelope.routing_key,
            envelope.event_id,
            seconds * 1000,
            extra={
                "routing_key": envelope.routing_key,
                "event_id": envelope.event_id,
                "correlation_id": envelope.correlation_id,
                "handler": handler,
            },
        )


def _log_failure(envelope: Envelope, handler: str, attempt: int, retry_in: float | None, exc: Exception) -> None:
    extra = {
        "routing_key": envelope.routing_key,
        "event_id": envelope.event_id,
        "correlation_id": envelope.correlation_id,
        "handler": handler,
        "attempt": attempt,
    }
    if retry_in is None:
        logger.error(
            "handler %s failed for %s (event %s, attempt %d)",
            handler,
            envelope.routing_key,
            envelope.event_id,
            attempt,
            exc_info=exc,
            extra=extra,
        )
    else:
        logger.warning(
            "handler %s failed for %s (event %s, attempt %d); retrying in %.3g s",
            handler,
            envelope.routing_key,
            envelope.event_id,
            attempt,
            retry_in,
            exc_info=exc,
            extra=extra,
        )
