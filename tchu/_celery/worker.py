"""The thin Celery tasks that hand deliveries to a :class:`~tchu.dispatch.Dispatcher`.

What happens to a message follows from what the dispatcher raises: handled -> acked; undecodable, invalid, no
handler or a failed handler -> copied to ``<queue>.dlq`` with the reason (confirmed), then acked; the copy
cannot be made -> requeued after a pause, so nothing is lost.
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from typing import Any, NoReturn

from celery.exceptions import Ignore, Reject

from tchu._celery.common import RPC_TASK_NAME, SETUP_ERRORS, dead_letter_queue, describe, retry_queue
from tchu._celery.transport import CeleryTransport
from tchu.catalog import Catalog
from tchu.dispatch import REJECTED, Dispatcher, rejection
from tchu.envelope import _EMBED, TASK_NAME, TCHU_HEADERS, Envelope, utc_now
from tchu.errors import (
    HandlerError,
    MessageDecodeError,
    RemoteError,
)
from tchu.idempotency import IdempotencyGuard
from tchu.observability import metrics, reason_kind
from tchu.router import Router
from tchu.signing import Signer

logger = logging.getLogger("tchu.dispatch")

REQUEUE_PAUSE = 1.0  # seconds before a message whose dead-letter copy failed goes back to its queue
MAX_REASON = 2000
HEADER_ATTEMPT = "tchu_attempt"  # the run a retry copy is (the first delivery has none: 1)
HEADER_ONLY = "tchu_only_handlers"  # a retry copy runs only these handlers
DEFAULT_CONSUMER = "celery.worker.consumer:Consumer"
TCHU_CONSUMER = "tchu._celery.consumer:TchuConsumer"  # dead-letters what Celery itself refuses


class WorkerRuntime:
    """What the dispatcher tasks of one Celery app share: the dispatcher and the dead-letter publisher."""

    def __init__(self, app: Any, dispatcher: Dispatcher, queue: str | None, queue_type: str = "classic") -> None:
        self.app = app
        self.dispatcher = dispatcher
        self._queue = queue
        self.queue_type = queue_type
        # never declares the service: a worker's set-up does that, and dead-lettering must not depend on it
        self.transport = CeleryTransport(app, declare_service=False)

    @property
    def queue(self) -> str:
        """The service queue: given by the set-up, else the queue ``task_routes`` sends the dispatcher to."""
        if self._queue:
            return self._queue
        routes = self.app.conf.task_routes
        route = routes.get(TASK_NAME) if isinstance(routes, dict) else None
        if isinstance(route, dict) and route.get("queue"):
            return str(route["queue"])
        return str(self.app.conf.task_default_queue)

    def handle_event(self, request: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Decode and dispatch one delivery; failures are retried later or dead-lettered (then the message is acked)."""
        try:
            envelope = self._decode(request, args, kwargs)
            attempt, only = _retry_headers(request)
        except MessageDecodeError as exc:
            logger.error(  # noqa: TRY400 -- the reason says it all; a traceback of the decoder adds nothing
                "undecodable event in %s, dead-lettered: %s", self.queue, exc, extra={"event_id": request.id}
            )
            self._finish(request, args, kwargs, [self._dlq_copy(request, reason=f"decode: {exc}")])
        delivery = request.delivery_info or {}
        try:
            self.dispatcher.dispatch(
                envelope, redelivered=bool(delivery.get("redelivered")), attempt=attempt, only=only
            )
        except REJECTED as exc:
            what, reason = rejection(exc)
            _log_rejected(envelope, what, exc)
            self._finish(request, args, kwargs, [self._dlq_copy(request, reason=reason)])
        except HandlerError as exc:  # each failure was logged by the dispatcher
            copies = []
            for delay in sorted({f.retry_in for f in exc.retrying if f.retry_in is not None}):
                handlers = ",".join(f.handler for f in exc.retrying if f.retry_in == delay)
                retry_headers = {HEADER_ATTEMPT: attempt + 1, HEADER_ONLY: handlers}
                copies.append((retry_queue(self.queue, delay), retry_headers))
            if exc.final:
                handlers = ",".join(f.handler for f in exc.final)
                copies.append(self._dlq_copy(request, reason=f"handler: {exc}", handlers=handlers, attempts=attempt))
            self._finish(request, args, kwargs, copies)

    def handle_call(self, request: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Answer one RPC request; a responder's exception reaches the caller as :class:`RemoteError`."""
        envelope = self._decode(request, args, kwargs)
        try:
            return self.dispatcher.respond(envelope)
        except Exception as exc:  # every failure goes back to the caller, typed
            logger.warning(
                "responder for %s raised %s (event %s): %s",
                envelope.routing_key,
                type(exc).__name__,
                envelope.event_id,
                exc,
                extra={"routing_key": envelope.routing_key, "event_id": envelope.event_id},
            )
            raise RemoteError(envelope.routing_key, type(exc).__name__, str(exc)) from exc

    def _decode(self, request: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Envelope:
        if len(args) != 1:
            raise MessageDecodeError(f"expected one task argument (the payload JSON), got {len(args)}")
        unknown = sorted(set(kwargs) - {"routing_key"})
        if unknown:
            raise MessageDecodeError(f"unknown task arguments {unknown}")
        routing_key = kwargs.get("routing_key") or (request.delivery_info or {}).get("routing_key")
        found = ((name, request.get(name)) for name in TCHU_HEADERS)
        headers = {name: value for name, value in found if value is not None}
        return Envelope.decode(args[0], routing_key, headers, str(request.id))

    def _dlq_copy(
        self, request: Any, *, reason: str, handlers: str = "", attempts: int = 1
    ) -> tuple[Any, dict[str, Any]]:
        """The dead-letter queue and the headers saying why the event is there."""
        return self.dead_letter_target(
            str((request.delivery_info or {}).get("routing_key") or ""), reason, handlers=handlers, attempts=attempts
        )

    def dead_letter_target(
        self, routing_key: str, reason: str, *, handlers: str = "", attempts: int = 1
    ) -> tuple[Any, dict[str, Any]]:
        """``<queue>.dlq`` and the ``tchu_dlq_*`` headers of an entry: why, which handlers, how many attempts."""
        headers = {
            "tchu_dlq_reason": reason[:MAX_REASON],
            "tchu_dlq_handlers": handlers,
            "tchu_dlq_attempts": attempts,
            "tchu_dlq_queue": self.queue,
            "tchu_dlq_routing_key": routing_key,
            "tchu_dlq_at": utc_now(),
        }
        return dead_letter_queue(self.queue, self.queue_type), headers

    def _finish(
        self,
        request: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        copies: list[tuple[Any, dict[str, Any]]],
    ) -> NoReturn:
        """Publish each copy of the delivery (confirmed), then end the task without a result: the message is acked.

        Raises:
            Ignore: every copy is confirmed; the task ends and the message is acked.
            Reject: a copy failed; the message goes back to its queue after a pause.
        """
        body = json.dumps([list(args), kwargs, _EMBED], default=str).encode()
        base: dict[str, Any] = {"task": TASK_NAME, "id": str(request.id)}
        base.update({name: request.get(name) for name in TCHU_HEADERS if request.get(name) is not None})
        for queue, extra in copies:
            try:
                self.transport.publish_message(
                    body,
                    exchange="",
                    routing_key=queue.name,
                    headers={**base, **extra},
                    properties={"correlation_id": str(request.id)},
                    declare=[queue],
                    what=f"copy of {request.id} to {queue.name}",
                )
            except SETUP_ERRORS as exc:
                logger.critical("could not copy %s to %s, requeued: %s", request.id, queue.name, describe(exc))
                time.sleep(REQUEUE_PAUSE)  # no hot loop while the broker refuses the copy
                raise Reject(f"copying to {queue.name} failed: {exc}", requeue=True) from exc
            count_dead_letter(extra)
        raise Ignore  # copied and logged: nothing more to report, and the message is acked


def count_dead_letter(headers: dict[str, Any]) -> None:
    """Report a confirmed dead-letter copy (headers with ``tchu_dlq_reason``) to the metrics; others are not."""
    reason = headers.get("tchu_dlq_reason")
    if reason is not None:
        metrics().dead_lettered(str(headers.get("tchu_dlq_routing_key") or ""), reason_kind(str(reason)))


def _retry_headers(request: Any) -> tuple[int, frozenset[str] | None]:
    """The run this delivery is (1 for the first) and, for a retry, the handlers it is for."""
    attempt = request.get(HEADER_ATTEMPT)
    if attempt is None:
        attempt = 1
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        raise MessageDecodeError(f"header {HEADER_ATTEMPT} must be a positive integer, got {attempt!r:.40}")
    only = request.get(HEADER_ONLY)
    if only is None:
        return attempt, None
    if not isinstance(only, str) or not only:
        raise MessageDecodeError(f"header {HEADER_ONLY} must list handler ids, got {only!r:.80}")
    return attempt, frozenset(only.split(","))


def _log_rejected(envelope: Envelope, what: str, exc: Exception) -> None:
    logger.error(
        "%s for %s (event %s), dead-lettered: %s",
        what,
        envelope.routing_key,
        envelope.event_id,
        exc,
        extra={"routing_key": envelope.routing_key, "event_id": envelope.event_id},
    )


runtimes: weakref.WeakKeyDictionary[Any, WorkerRuntime] = weakref.WeakKeyDictionary()


def create_topic_dispatcher(
    celery_app: Any,
    task_name: str = TASK_NAME,
    serializer: Any = None,
    *,
    router: Router | None = None,
    catalog: Catalog | None = None,
    queue: str | None = None,
    queue_type: str = "classic",
    idempotency: IdempotencyGuard | None = None,
    signer: Signer | None = None,
) -> Any:
    """Register the dispatcher task (and the RPC responder task) on ``celery_app`` and return the former.

    Same call as tchu-tchu 2.2.3's. ``serializer`` is accepted for that signature only: payloads are always
    JSON. With a ``signer`` (:class:`~tchu.signing.Signer`) only correctly signed events reach the handlers;
    others are dead-lettered. The task acks a message only after its handlers ran or it was dead-lettered to
    ``<queue>.dlq``; messages Celery itself refuses on the service queue (pickle, undecodable, unknown task) are
    dead-lettered too, by :class:`~tchu._celery.consumer.TchuConsumer`, made the app's ``worker_consumer``
    unless it names one of its own. When a worker starts, it also consumes the RPC queue of every ``@respond``
    handler of the router. Calling it again for the same app replaces the earlier dispatcher.

    Example:
        >>> dispatcher = create_topic_dispatcher(app)
    """
    del serializer  # payloads are JSON on the wire; a custom serializer could not be read by other services
    app = celery_app
    dispatcher = Dispatcher(router, catalog, idempotency=idempotency, signer=signer)
    runtime = WorkerRuntime(app, dispatcher, queue, queue_type)
    runtimes[app] = runtime
    if app.conf.worker_consumer in (None, DEFAULT_CONSUMER):  # an app's own consumer class is left alone
        app.conf.worker_consumer = TCHU_CONSUMER

    # shared=False: the tasks belong to this app only; module-level bodies look the runtime up by their app, so
    # two apps in one process each dispatch with their own, and registering again replaces without a warning
    dispatch = app.task(
        name=task_name,
        bind=True,
        shared=False,
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=True,
        typing=False,
    )(dispatch_event)
    app.task(name=RPC_TASK_NAME, bind=True, shared=False, ignore_result=False, typing=False, throws=(RemoteError,))(
        respond
    )
    return dispatch


def dispatch_event(self: Any, *args: Any, **kwargs: Any) -> None:
    """The dispatcher task: hand one delivery to its app's runtime."""
    runtimes[self.app].handle_event(self.request, args, kwargs)


def respond(self: Any, *args: Any, **kwargs: Any) -> Any:
    """The RPC responder task: answer one request with its app's runtime."""
    return runtimes[self.app].handle_call(self.request, args, kwargs)
