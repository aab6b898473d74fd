"""The in-memory broker and its transport; see :mod:`tchu.memory`."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from tchu.catalog import Catalog
from tchu.client import Unroutable
from tchu.dispatch import REJECTED, Dispatcher, rejection
from tchu.envelope import Envelope, TaskMessage
from tchu.errors import (
    HandlerError,
    MessageDecodeError,
    NoResponderError,
    RemoteError,
    RPCTimeoutError,
    SetupError,
)
from tchu.idempotency import IdempotencyGuard
from tchu.memory._service import DeadLetter, MemoryService, RetryRecord
from tchu.memory._wire import RPC_TASK_NAME, RefusedMessageError, raw_payload, read_task_message
from tchu.observability import metrics, reason_kind
from tchu.publisher import report_unroutable
from tchu.router import Router
from tchu.signing import Signer
from tchu.topics import validate_routing_key

logger = logging.getLogger("tchu.memory")

MAX_REASON = 2000  # a dead-letter reason is cut to this length, as in the worker's tchu_dlq_reason header
_UNROUTABLE = ("log", "raise", "ignore")


@dataclass(frozen=True, slots=True)
class _Delivery:
    service: MemoryService
    message: TaskMessage
    routing_key: str
    attempt: int = 1
    only: frozenset[str] | None = None
    delay: float = 0.0


class MemoryBroker:
    """Services, their queues and the ``tchu_events`` exchange, in this process.

    Args:
        eager: deliver during ``send`` (the default); ``False`` queues deliveries until :meth:`drain`.
        sleep: called with a retry's backoff in seconds before the retry runs (e.g. ``time.sleep``); by default
            retries run at once.
    """

    def __init__(self, *, eager: bool = True, sleep: Callable[[float], None] | None = None) -> None:
        self.eager = eager
        self.sleep = sleep
        self.services: dict[str, MemoryService] = {}
        self.published: list[Envelope] = []
        self.calls: list[Envelope] = []
        self._queue: deque[_Delivery] = deque()
        self._lock = threading.Lock()
        self._drain_lock = threading.RLock()
        self._local = threading.local()

    def add_service(
        self,
        name: str,
        *,
        router: Router | None = None,
        catalog: Catalog | None = None,
        handlers: Iterable[str] = (),
        signer: Signer | None = None,
        idempotency: IdempotencyGuard | None = None,
    ) -> MemoryService:
        """Add a service whose queue is bound with its router's patterns, as :func:`tchu.setup_service` does.

        ``handlers`` modules are imported first, so their decorators have registered. ``router`` and ``catalog``
        default to :data:`tchu.default_router` and :data:`tchu.default_catalog`; ``signer`` and ``idempotency``
        mean what they mean for ``setup_service``.

        Raises:
            SetupError: the name is empty or taken, or a handler module cannot be imported.
        """
        if not isinstance(name, str) or not name.strip():
            raise SetupError(f"service name must be a non-empty string, got {name!r}")
        if name in self.services:
            raise SetupError(f"the in-memory broker already has a service {name!r}")
        for module in handlers:
            try:
                import_module(module)
            except ImportError as exc:
                raise SetupError(f"service {name!r}: cannot import handler module {module!r}: {exc}") from exc
        dispatcher = Dispatcher(router, catalog, idempotency=idempotency, signer=signer)
        service = self.services[name] = MemoryService(name, dispatcher)
        return service

    def remove_service(self, name: str) -> None:
        """Remove a service; its queued deliveries are dropped with it."""
        service = self.services.pop(name)
        with self._lock:
            self._queue = deque(d for d in self._queue if d.service is not service)

    def service(self, name: str) -> MemoryService:
        """The service called ``name``.

        Raises:
            SetupError: there is none.
        """
        try:
            return self.services[name]
        except KeyError:
            raise SetupError(f"no service {name!r}; the in-memory broker has {sorted(self.services)}") from None

    def transport(self, *, unroutable: Unroutable = "log") -> MemoryTransport:
        """A transport for ``TchuClient(transport=...)``; ``unroutable`` as in :class:`~tchu.TchuClient`."""
        return MemoryTransport(self, unroutable=unroutable)

    def route(self, routing_key: str) -> list[MemoryService]:
        """The services an event published with ``routing_key`` reaches, in the order they were added."""
        validate_routing_key(routing_key)
        return [s for s in self.services.values() if s.receives(routing_key)]

    def publish_message(self, message: TaskMessage, routing_key: str) -> list[MemoryService]:
        """Put a task message on the queue of every service bound to ``routing_key``; return those services.

        The message is delivered as it is, so messages other publishers send can be tried too. With ``eager``,
        the deliveries run before this returns.
        """
        targets = self.route(routing_key)
        self._enqueue(_Delivery(service, message, routing_key) for service in targets)
        self._kick()
        return targets

    def publish(self, envelopes: Iterable[Envelope]) -> list[Envelope]:
        """Encode each event as its task message and put it on the queue of every bound service, in order.

        Returns the events no service is bound to. With ``eager``, the deliveries run before this returns.
        """
        returned: list[Envelope] = []
        for envelope in envelopes:
            message = envelope.task_message()
            try:
                self.published.append(read_task_message(message, envelope.routing_key))
            except MessageDecodeError:
                self.published.append(envelope)  # recorded as sent; every bound service dead-letters it
            targets = self.route(envelope.routing_key)
            self._enqueue(_Delivery(service, message, envelope.routing_key) for service in targets)
            if not targets:
                returned.append(envelope)
        self._kick()
        return returned

    @property
    def pending(self) -> int:
        """Deliveries waiting for :meth:`drain`."""
        with self._lock:
            return len(self._queue)

    def drain(self) -> int:
        """Run every queued delivery, and the deliveries they cause, in order; return how many ran.

        Called from inside a handler it returns 0 at once: the running drain delivers what the handler published.
        """
        if getattr(self._local, "draining", False):
            return 0
        count = 0
        with self._drain_lock:
            self._local.draining = True
            try:
                while True:
                    with self._lock:
                        if not self._queue:
                            break
                        delivery = self._queue.popleft()
                    self._process(delivery)
                    count += 1
            finally:
                self._local.draining = False
        return count

    def dead_letters(self, service: str | None = None) -> list[DeadLetter]:
        """The dead letters of one service, or of every service in the order they were added."""
        if service is not None:
            return list(self.service(service).dead_letters)
        return [entry for s in self.services.values() for entry in s.dead_letters]

    def clear(self) -> None:
        """Forget published events, calls, queued deliveries and every service's records; services stay."""
        with self._lock:
            self._queue.clear()
        self.published.clear()
        self.calls.clear()
        for service in self.services.values():
            service.clear()

    def call(self, message: TaskMessage, routing_key: str, timeout: float) -> Any:
        """Answer an RPC request message with the first service (in the order added) that responds to its key.

        In RabbitMQ every responding service consumes the key's request queue and one of them answers.

        Raises:
            NoResponderError: no service responds to ``routing_key``.
            RemoteError: the request did not decode or the responder raised (its type and message).
            RPCTimeoutError: the responder took longer than ``timeout`` seconds (its reply is dropped).
        """
        responders = [s for s in self.services.values() if s.router.responder_for(routing_key) is not None]
        if not responders:
            raise NoResponderError(
                f"no service responds to {routing_key!r}: none of the in-memory broker's services "
                f"{sorted(self.services)} has a @respond handler for it"
            )
        started = time.monotonic()
        try:
            envelope = read_task_message(message, routing_key, task_name=RPC_TASK_NAME)
        except MessageDecodeError as exc:  # the worker's task fails, and the caller gets the error
            raise RemoteError(routing_key, type(exc).__name__, str(exc)) from exc
        try:
            reply = responders[0].dispatcher.respond(envelope)
        except Exception as exc:  # every failure goes back to the caller, typed, as the worker sends it
            logger.warning(
                "responder for %s raised %s (event %s): %s",
                routing_key,
                type(exc).__name__,
                envelope.event_id,
                exc,
                extra={"routing_key": routing_key, "event_id": envelope.event_id},
            )
            raise RemoteError(routing_key, type(exc).__name__, str(exc)) from exc
        finally:
            self._kick()  # events the responder published
        if time.monotonic() - started > timeout:
            raise RPCTimeoutError(f"no reply to call {routing_key!r} (event {envelope.event_id}) within {timeout} s")
        return json.loads(json.dumps(reply))  # the result backend's JSON round trip

    def _enqueue(self, deliveries: Iterable[_Delivery]) -> None:
        with self._lock:
            self._queue.extend(deliveries)

    def _kick(self) -> None:
        if self.eager:
            self.drain()

    def _process(self, delivery: _Delivery) -> None:
        service, attempt = delivery.service, delivery.attempt
        if delivery.delay and self.sleep is not None:
            self.sleep(delivery.delay)
        try:
            envelope = read_task_message(delivery.message, delivery.routing_key)
        except RefusedMessageError as exc:
            logger.error(  # noqa: TRY400 -- the reason says it all; a traceback of the reader adds nothing
                "refused message for %s (routing key %r), dead-lettered: %s", service.name, delivery.routing_key, exc
            )
            self._dead_letter(delivery, None, f"refused: {exc}")
            return
        except MessageDecodeError as exc:
            logger.error("undecodable event for %s, dead-lettered: %s", service.name, exc)  # noqa: TRY400 -- the reason says it all
            self._dead_letter(delivery, None, f"decode: {exc}")
            return
        try:
            result = service.dispatcher.dispatch(envelope, attempt=attempt, only=delivery.only)
        except REJECTED as exc:
            self._rejected(delivery, envelope, *rejection(exc))
        except HandlerError as exc:  # each failure was logged by the dispatcher
            self._retry(delivery, envelope, exc)
            if exc.final:
                handlers = tuple(f.handler for f in exc.final)
                self._dead_letter(delivery, envelope, f"handler: {exc}", handlers=handlers, attempts=attempt)
        else:
            service.handled.append(result)

    def _rejected(self, delivery: _Delivery, envelope: Envelope, what: str, reason: str) -> None:
        logger.error(
            "%s for %s (event %s) in %s, dead-lettered: %s",
            what,
            envelope.routing_key,
            envelope.event_id,
            delivery.service.name,
            reason,
            extra={"routing_key": envelope.routing_key, "event_id": envelope.event_id},
        )
        self._dead_letter(delivery, envelope, reason)

    def _retry(self, delivery: _Delivery, envelope: Envelope, exc: HandlerError) -> None:
        """Queue one copy per backoff, for the handlers that fail with it, as the worker's retry queues do."""
        for delay in sorted({f.retry_in for f in exc.retrying if f.retry_in is not None}):
            handlers = tuple(f.handler for f in exc.retrying if f.retry_in == delay)
            attempt = delivery.attempt + 1
            record = RetryRecord(
                delivery.service.name, envelope.event_id, envelope.routing_key, handlers, attempt, delay
            )
            delivery.service.retries.append(record)
            copy = _Delivery(
                delivery.service, delivery.message, delivery.routing_key, attempt, frozenset(handlers), delay
            )
            self._enqueue([copy])

    def _dead_letter(
        self,
        delivery: _Delivery,
        envelope: Envelope | None,
        reason: str,
        *,
        handlers: tuple[str, ...] = (),
        attempts: int = 1,
    ) -> None:
        headers = delivery.message.headers
        event_id = envelope.event_id if envelope else str(headers.get("tchu_event_id") or headers.get("id") or "")
        payload = envelope.payload if envelope else raw_payload(delivery.message)
        entry = DeadLetter(
            service=delivery.service.name,
            event_id=event_id,
            routing_key=delivery.routing_key,
            reason=reason[:MAX_REASON],
            handlers=handlers,
            attempts=attempts,
            dead_lettered_at=dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
            payload=payload,
            message=delivery.message,
        )
        delivery.service.dead_letters.append(entry)
        metrics().dead_lettered(delivery.routing_key, reason_kind(reason))


class MemoryTransport:
    """A :class:`~tchu.publisher.Transport` that publishes to a :class:`MemoryBroker`.

    An event no service is bound to is logged (``unroutable="log"``), raised as :class:`~tchu.UnroutableError`
    (``"raise"``) or ignored, as :class:`~tchu.TchuClient` does with a real broker.
    """

    def __init__(self, broker: MemoryBroker, *, unroutable: Unroutable = "log") -> None:
        if unroutable not in _UNROUTABLE:
            raise SetupError(f"unroutable must be 'log', 'raise' or 'ignore', got {unroutable!r}")
        self.broker = broker
        self.unroutable = unroutable

    def send(self, envelope: Envelope) -> None:
        """Encode the event as its task message and deliver it to every bound service."""
        self.send_many([envelope])

    def send_many(self, envelopes: Sequence[Envelope]) -> None:
        """Deliver events in order; then report those no service is bound to (the first, with ``"raise"``)."""
        for envelope in self.broker.publish(envelopes):
            self._unroutable(envelope)

    def call(self, envelope: Envelope, timeout: float) -> Any:
        """Encode the request as the responder task's message and return the reply of the service that answers."""
        message = envelope.task_message(task_name=RPC_TASK_NAME, reply_to="tchu.memory", expires=timeout)
        self.broker.calls.append(envelope)
        return self.broker.call(message, envelope.routing_key, timeout)

    def close(self) -> None:
        """Nothing to release: there is no connection."""

    def _unroutable(self, envelope: Envelope) -> None:
        report_unroutable(envelope, self.unroutable)
