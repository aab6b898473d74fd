"""The Celery and kombu adapter: the only module of tchu that imports them.

Three jobs live here: publishing envelopes (:class:`CeleryTransport`), the thin worker tasks that hand
deliveries to a :class:`~tchu.dispatch.Dispatcher` (:func:`create_topic_dispatcher`), and declaring a
service's queues and bindings from its handlers (:func:`setup_service`). Celery and kombu are untyped,
so their values are ``Any`` here and typed at the functions' edges.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from amqp.exceptions import AMQPError
from celery import Celery, current_app, signals
from celery.exceptions import Reject
from celery.exceptions import TimeoutError as CeleryTimeoutError
from kombu.entity import Exchange, Queue, binding
from kombu.exceptions import KombuError, OperationalError
from kombu.messaging import Producer

from tchu._management import ManagementAPI, ManagementError, vhost_of
from tchu.catalog import Catalog
from tchu.dispatch import Dispatcher
from tchu.envelope import _EMBED, CONTENT_ENCODING, CONTENT_TYPE, TASK_NAME, TCHU_HEADERS, Envelope, _now
from tchu.errors import (
    HandlerError,
    MessageDecodeError,
    NoHandlerError,
    NoResponderError,
    PayloadValidationError,
    PublishError,
    RemoteError,
    RPCTimeoutError,
    SetupError,
)
from tchu.router import Router, default_router

logger = logging.getLogger("tchu.celery")

EXCHANGE_NAME = "tchu_events"
RPC_TASK_NAME = "tchu.rpc.respond"
RPC_QUEUE_PREFIX = "tchu.rpc."
DLQ_SUFFIX = ".dlq"
_RETRY_POLICY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 2}
_BROKER_ERRORS: tuple[type[BaseException], ...] = (KombuError, OSError, AMQPError)


def events_exchange() -> Any:
    """The ``tchu_events`` topic exchange, durable, as tchu-tchu 2.x declares it."""
    return Exchange(EXCHANGE_NAME, type="topic", durable=True)


def rpc_queue_name(routing_key: str) -> str:
    """The queue RPC requests for ``routing_key`` go to; every responder of the key consumes it."""
    return RPC_QUEUE_PREFIX + routing_key


def _rpc_queue(routing_key: str) -> Any:
    return Queue(
        rpc_queue_name(routing_key),
        exchange=Exchange(""),
        routing_key=rpc_queue_name(routing_key),
        durable=True,
        auto_delete=False,
    )


def resolve_app(app: Any = None) -> Any:
    """``app``, or Celery's current app when ``None``."""
    return app if app is not None else current_app._get_current_object()  # noqa: SLF001 -- Celery's own proxy API


# --------------------------------------------------------------------------------------------------- publish


@dataclass
class _Link:
    pid: int
    connection: Any
    producer: Any


class CeleryTransport:
    """Publishes envelopes to RabbitMQ over the Celery app's broker connection settings.

    Each thread of each process gets its own connection (kombu connections are neither thread- nor fork-safe).
    With ``confirm`` (the default), :meth:`send` returns only after the broker confirmed the message.
    """

    def __init__(self, app: Any = None, *, confirm: bool = True) -> None:
        self._app = app
        self.confirm = confirm
        self._local = threading.local()
        self._links: weakref.WeakSet[Any] = weakref.WeakSet()

    @property
    def app(self) -> Any:
        """The Celery app whose broker settings are used."""
        return resolve_app(self._app)

    def _link(self) -> _Link:
        link: _Link | None = getattr(self._local, "link", None)
        if link is None or link.pid != os.getpid():
            options = {"confirm_publish": True} if self.confirm else {}
            conn = self.app.connection_for_write(transport_options=options)
            link = _Link(os.getpid(), conn, Producer(conn, auto_declare=False))
            self._local.link = link
            _ensure_declared_for(self.app)
        return link

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end or the process exits)."""
        self._reset()

    def _reset(self) -> None:
        link: _Link | None = getattr(self._local, "link", None)
        self._local.link = None
        if link is not None and link.pid == os.getpid():
            try:
                link.connection.release()
            except _BROKER_ERRORS:
                logger.debug("closing a broken connection failed", exc_info=True)

    def publish_message(
        self,
        body: bytes,
        *,
        exchange: Any,
        routing_key: str,
        headers: dict[str, Any],
        properties: dict[str, Any],
        declare: Iterable[Any] = (),
        expiration: float | None = None,
        what: str = "",
    ) -> None:
        """Publish one raw message, persistent and JSON-typed, with bounded reconnect-and-retry.

        Raises:
            PublishError: the broker could not be reached or did not confirm.
        """
        link = self._link()
        try:
            link.producer.publish(
                body,
                exchange=exchange,
                routing_key=routing_key,
                headers=headers,
                content_type=CONTENT_TYPE,
                content_encoding=CONTENT_ENCODING,
                delivery_mode=2,
                declare=list(declare),
                expiration=expiration,
                retry=True,
                retry_policy=_RETRY_POLICY,
                **properties,
            )
        except _BROKER_ERRORS as exc:
            self._reset()
            raise PublishError(f"could not publish {what or routing_key!r}: {type(exc).__name__}: {exc}") from exc

    def send(self, envelope: Envelope) -> None:
        """Publish an event to ``tchu_events`` under its routing key."""
        msg = envelope.task_message(origin=_origin())
        self.publish_message(
            msg.body,
            exchange=events_exchange(),
            routing_key=envelope.routing_key,
            headers=msg.headers,
            properties=msg.properties,
            declare=[events_exchange()],
            what=f"event {envelope.routing_key!r}",
        )

    def call(self, envelope: Envelope, timeout: float) -> Any:
        """Send an RPC request to the key's responder queue and wait for the reply."""
        app = self.app
        queue = rpc_queue_name(envelope.routing_key)
        self._check_responder(envelope.routing_key, queue)
        link = self._link()
        msg = envelope.task_message(task_name=RPC_TASK_NAME, reply_to=app.thread_oid, origin=_origin())
        try:
            app.backend.on_task_call(link.producer, msg.headers["id"])
        except _BROKER_ERRORS as exc:
            raise PublishError(f"result backend unavailable for call {envelope.routing_key!r}: {exc}") from exc
        self.publish_message(
            msg.body,
            exchange="",
            routing_key=queue,
            headers=msg.headers,
            properties=msg.properties,
            expiration=timeout,  # a request nobody took in time is dropped, not answered late
            what=f"call {envelope.routing_key!r}",
        )
        result = app.AsyncResult(msg.headers["id"])
        try:
            value = result.get(timeout=timeout, propagate=False, disable_sync_subtasks=False)
        except CeleryTimeoutError as exc:
            raise RPCTimeoutError(
                f"no reply to call {envelope.routing_key!r} (event {envelope.event_id}) within {timeout} s"
            ) from exc
        finally:
            result.forget()
        if isinstance(value, RemoteError):
            raise RemoteError(envelope.routing_key, value.remote_type, value.remote_message)
        if isinstance(value, BaseException):
            raise RemoteError(envelope.routing_key, type(value).__name__, str(value))
        return value

    def _check_responder(self, routing_key: str, queue: str) -> None:
        link = self._link()
        try:
            _, _, consumers = link.producer.channel.queue_declare(queue, passive=True)
        except _BROKER_ERRORS as exc:
            self._reset()  # a 404 closes the channel
            if getattr(exc, "code", None) == 404:  # noqa: PLR2004 -- AMQP NOT_FOUND
                raise NoResponderError(
                    f"no service responds to {routing_key!r}: queue {queue!r} does not exist; register a "
                    "handler with @respond in a service set up with tchu and start its worker"
                ) from exc
            raise PublishError(f"could not check responders of {routing_key!r}: {exc}") from exc
        if consumers == 0:
            raise NoResponderError(
                f"no worker is consuming {queue!r}, so nobody would answer {routing_key!r}; "
                "start a worker of the responding service"
            )


def _origin() -> str:
    return f"{os.getpid()}@{os.uname().nodename}"


# ---------------------------------------------------------------------------------------------- dispatch


class WorkerRuntime:
    """What the dispatcher tasks of one Celery app share: the dispatcher and the dead-letter publisher."""

    def __init__(self, app: Any, dispatcher: Dispatcher, queue: str | None) -> None:
        self.app = app
        self.dispatcher = dispatcher
        self._queue = queue
        self.transport = CeleryTransport(app)

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
        """Decode and dispatch one delivery; failures are dead-lettered and the message rejected."""
        try:
            envelope = self._decode(request, args, kwargs)
        except MessageDecodeError as exc:
            logger.warning("undecodable event in %s: %s", self.queue, exc, extra={"event_id": request.id})
            self._dead_letter(request, args, kwargs, reason=f"decode: {exc}")
            raise Reject(str(exc), requeue=False) from exc
        delivery = request.delivery_info or {}
        try:
            self.dispatcher.dispatch(envelope, redelivered=bool(delivery.get("redelivered")))
        except PayloadValidationError as exc:
            _log_rejected(envelope, "invalid payload", exc)
            self._dead_letter(request, args, kwargs, reason=f"validation: {exc}")
            raise Reject(str(exc), requeue=False) from exc
        except NoHandlerError as exc:
            _log_rejected(envelope, "no handler", exc)
            self._dead_letter(request, args, kwargs, reason=f"no handler: {exc}")
            raise Reject(str(exc), requeue=False) from exc
        except HandlerError as exc:  # each failure was logged by the dispatcher
            handlers = ",".join(f.handler for f in exc.failures)
            self._dead_letter(request, args, kwargs, reason=f"handler: {exc}", handlers=handlers)
            raise Reject(str(exc), requeue=False) from exc

    def handle_call(self, request: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Answer one RPC request; a responder's exception reaches the caller as :class:`RemoteError`."""
        envelope = self._decode(request, args, kwargs)
        try:
            return self.dispatcher.respond(envelope)
        except Exception as exc:  # every failure goes back to the caller, typed
            logger.warning(
                "responder for %s raised %s (event %s)",
                envelope.routing_key,
                type(exc).__name__,
                envelope.event_id,
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
        headers = {name: request.get(name) for name in TCHU_HEADERS if request.get(name) is not None}
        return Envelope.decode(args[0], routing_key, headers, str(request.id))

    def dead_letter_queue(self) -> Any:
        """The service's dead-letter queue (``<queue>.dlq``), durable."""
        name = self.queue + DLQ_SUFFIX
        return Queue(name, exchange=Exchange(""), routing_key=name, durable=True, auto_delete=False)

    def _dead_letter(
        self, request: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, reason: str, handlers: str = ""
    ) -> None:
        dlq = self.dead_letter_queue()
        body = json.dumps([list(args), kwargs, _EMBED], default=str).encode()
        headers: dict[str, Any] = {
            "lang": "py",
            "task": TASK_NAME,
            "id": str(request.id),
            "root_id": str(request.id),
        }
        headers.update({name: request.get(name) for name in TCHU_HEADERS if request.get(name) is not None})
        headers.update(
            {
                "tchu_dlq_reason": reason[:2000],
                "tchu_dlq_handlers": handlers,
                "tchu_dlq_queue": self.queue,
                "tchu_dlq_routing_key": str((request.delivery_info or {}).get("routing_key") or ""),
                "tchu_dlq_at": _now(),
            }
        )
        try:
            self.transport.publish_message(
                body,
                exchange="",
                routing_key=dlq.name,
                headers=headers,
                properties={"correlation_id": str(request.id)},
                declare=[dlq],
                what=f"dead letter to {dlq.name}",
            )
        except PublishError as exc:
            # Keep the message on its queue rather than lose it; it is delivered again later.
            raise Reject(f"dead-lettering failed: {exc}", requeue=True) from exc


def _log_rejected(envelope: Envelope, what: str, exc: Exception) -> None:
    logger.error(
        "%s for %s (event %s), dead-lettered: %s",
        what,
        envelope.routing_key,
        envelope.event_id,
        exc,
        extra={"routing_key": envelope.routing_key, "event_id": envelope.event_id},
    )


_runtimes: weakref.WeakKeyDictionary[Any, WorkerRuntime] = weakref.WeakKeyDictionary()


def create_topic_dispatcher(
    celery_app: Any,
    task_name: str = TASK_NAME,
    serializer: Any = None,
    *,
    router: Router | None = None,
    catalog: Catalog | None = None,
    queue: str | None = None,
) -> Any:
    """Register the dispatcher task (and the RPC responder task) on ``celery_app`` and return the former.

    Same call as tchu-tchu 2.2.3's. ``serializer`` is accepted for that signature only: payloads are always
    JSON. The task acks a message only after its handlers ran or it was dead-lettered to ``<queue>.dlq``.

    Example:
        >>> dispatcher = create_topic_dispatcher(app)
    """
    del serializer  # payloads are JSON on the wire; a custom serializer could not be read by other services
    app = celery_app
    runtime = WorkerRuntime(app, Dispatcher(router, catalog), queue)
    _runtimes[app] = runtime

    @app.task(
        name=task_name,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=True,
        typing=False,
    )
    def dispatch_event(self: Any, *args: Any, **kwargs: Any) -> None:
        runtime.handle_event(self.request, args, kwargs)

    @app.task(name=RPC_TASK_NAME, bind=True, ignore_result=False, typing=False)
    def respond(self: Any, *args: Any, **kwargs: Any) -> Any:
        return runtime.handle_call(self.request, args, kwargs)

    def add_rpc_queues(sender: Any = None, **_: Any) -> None:
        if sender is None or sender.app is not app:
            return
        for responder in runtime.dispatcher.router.responders():
            app.amqp.queues.select_add(_rpc_queue(responder.routing_key))

    signals.worker_init.connect(add_rpc_queues, weak=False)
    return dispatch_event


# ------------------------------------------------------------------------------------------------ set-up


@dataclass(frozen=True)
class BindingReport:
    """What :meth:`Service.declare` found and did on the broker.

    ``bound`` are the patterns the handlers need (all bound now); ``stale`` are bindings of the queue to
    ``tchu_events`` that no handler needs; ``removed`` those of them unbound on request. ``checked`` is False
    when the management API could not be asked, so stale bindings are unknown.
    """

    queue: str
    bound: tuple[str, ...]
    stale: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    checked: bool = True


@dataclass
class Service:
    """One service's queue on ``tchu_events``, bound with exactly the patterns of its handlers."""

    app: Any
    name: str
    queue_name: str
    router: Router
    handler_modules: tuple[str, ...] = ()
    remove_stale: bool = False
    management_url: str | None = None
    dispatcher: Any = None
    celery_queue: Any = None
    _declared_pid: int | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def import_handlers(self) -> None:
        """Import the handler modules, so their decorators have registered.

        Raises:
            SetupError: a module cannot be imported (its name and the cause are in the message).
        """
        for module in self.handler_modules:
            try:
                import_module(module)
            except ImportError as exc:
                raise SetupError(f"service {self.name!r}: cannot import handler module {module!r}: {exc}") from exc

    def patterns(self) -> list[str]:
        """The binding patterns the service needs: its handlers' patterns, after importing them."""
        self.import_handlers()
        return self.router.patterns()

    def declare(self, *, remove_stale: bool | None = None) -> BindingReport:
        """Declare the exchange, the service queue with its bindings, and its dead-letter queue.

        Bindings to ``tchu_events`` that no handler needs are reported (a warning) and, with
        ``remove_stale``, unbound. Safe to call repeatedly.

        Raises:
            SetupError: the queue exists with other arguments, or a handler module cannot be imported.
            PublishError: the broker cannot be reached.
        """
        patterns = self.patterns()
        remove = self.remove_stale if remove_stale is None else remove_stale
        exchange = events_exchange()
        queue = Queue(self.queue_name, durable=True, auto_delete=False)
        dlq = WorkerRuntime(self.app, Dispatcher(self.router), self.queue_name).dead_letter_queue()
        try:
            with self.app.connection_for_write() as conn:
                channel = conn.default_channel
                exchange.declare(channel=channel)
                queue.declare(channel=channel)
                for pattern in patterns:
                    queue.bind_to(exchange, routing_key=pattern, channel=channel)
                dlq.declare(channel=channel)
                report = self._stale(patterns, remove, channel)
        except OperationalError as exc:
            raise PublishError(f"service {self.name!r}: cannot reach the broker: {exc}") from exc
        except (KombuError, AMQPError) as exc:
            if getattr(exc, "code", None) == 406:  # noqa: PLR2004 -- AMQP PRECONDITION_FAILED
                raise SetupError(
                    f"service {self.name!r}: queue {self.queue_name!r} already exists with other arguments "
                    f"({exc}); delete it or pass setup_service(..., queue=<new name>)"
                ) from exc
            raise
        if not patterns:
            logger.warning("service %s has no handlers: queue %s is bound to nothing", self.name, self.queue_name)
        self._update_celery_queue(patterns)
        self._declared_pid = os.getpid()
        return report

    def ensure_declared(self) -> None:
        """Declare once per process (the publisher side calls this before its first publish)."""
        with self._lock:
            if self._declared_pid != os.getpid():
                self.declare()

    def _stale(self, patterns: list[str], remove: bool, channel: Any) -> BindingReport:
        url = self.app.connection_for_write().as_uri(include_password=True)
        api = ManagementAPI.for_broker(url, self.management_url)
        vhost = vhost_of(url)
        try:
            existing = {b.pattern for b in api.queue_bindings(vhost, self.queue_name) if b.exchange == EXCHANGE_NAME}
        except ManagementError as exc:
            logger.warning("service %s: stale bindings not checked: %s", self.name, exc)
            return BindingReport(self.queue_name, tuple(patterns), checked=False)
        stale = tuple(sorted(existing - set(patterns)))
        removed: tuple[str, ...] = ()
        if stale and remove:
            for pattern in stale:
                channel.queue_unbind(self.queue_name, EXCHANGE_NAME, pattern)
            removed = stale
            logger.info("service %s: removed stale bindings %s from %s", self.name, list(stale), self.queue_name)
        elif stale:
            logger.warning(
                "service %s: queue %s has bindings no handler needs: %s; events matching them are "
                "dead-lettered as 'no handler'. Remove them with setup_service(..., remove_stale=True)",
                self.name,
                self.queue_name,
                list(stale),
            )
        return BindingReport(self.queue_name, tuple(patterns), stale, removed)

    def _update_celery_queue(self, patterns: list[str]) -> None:
        # Celery's own copy of the queue, so a reconnecting worker declares the same bindings again.
        q = self.celery_queue
        if q is None or not patterns:
            return
        q.routing_key = patterns[0]
        q.bindings = {binding(events_exchange(), routing_key=p) for p in patterns}
        q.no_declare = False


_services: weakref.WeakKeyDictionary[Any, Service] = weakref.WeakKeyDictionary()


def _ensure_declared_for(app: Any) -> None:
    svc = _services.get(app)
    if svc is not None:
        svc.ensure_declared()


def setup_service(
    celery_app: Any,
    service: str,
    *,
    handlers: Iterable[str] = (),
    queue: str | None = None,
    router: Router | None = None,
    catalog: Catalog | None = None,
    remove_stale: bool = False,
    management_url: str | None = None,
) -> Service:
    """Set up a Celery app as tchu service ``service`` in one call.

    Adds the durable queue ``<service>_queue`` (or ``queue``) to the app's task queues, creates the
    dispatcher, and, when a worker starts (and before this process first publishes), imports the
    ``handlers`` modules and binds the queue to ``tchu_events`` with exactly the patterns of the registered
    handlers. RPC responders get their request queues. Nothing connects to the broker during this call.

    Example:
        >>> app = Celery("users", broker="amqp://guest:guest@localhost//")
        >>> service = setup_service(app, "users", handlers=["users.subscribers"])
    """
    if not isinstance(service, str) or not service.strip():
        raise SetupError(f"service name must be a non-empty string, got {service!r}")
    app = celery_app
    router = router if router is not None else default_router
    queue_name = queue or f"{service}_queue"
    celery_queue = Queue(queue_name, exchange=events_exchange(), durable=True, auto_delete=False, no_declare=True)
    conf = app.conf
    queues = list(conf.task_queues or [_default_queue(app)])
    conf.task_queues = [q for q in queues if q.name != queue_name] + [celery_queue]
    routes = dict(conf.task_routes) if isinstance(conf.task_routes, dict) else {}
    routes[TASK_NAME] = {"queue": queue_name}
    conf.task_routes = routes
    svc = Service(app, service, queue_name, router, tuple(handlers), remove_stale, management_url)
    svc.celery_queue = celery_queue
    _services[app] = svc

    def on_worker_init(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is app:
            report = svc.declare()
            logger.info("service %s: queue %s bound to %s", service, queue_name, list(report.bound))

    signals.worker_init.connect(on_worker_init, weak=False)  # before the dispatcher's, which needs the handlers
    svc.dispatcher = create_topic_dispatcher(app, router=router, catalog=catalog, queue=queue_name)
    return svc


def _default_queue(app: Any) -> Any:
    conf = app.conf
    name = conf.task_default_queue
    exchange = Exchange(conf.task_default_exchange or name, type=conf.task_default_exchange_type)
    return Queue(name, exchange, routing_key=conf.task_default_routing_key or name)


def new_app(name: str, broker_url: str, *, backend: str | None = None, **conf: Any) -> Any:
    """A Celery app with tchu's recommended settings (JSON only, UTC)."""
    app = Celery(name, broker=broker_url, backend=backend)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        **conf,
    )
    return app


def call_with_app(fn: Callable[[Any], Any], app: Any = None) -> Any:
    """Run ``fn`` with the resolved app (a seam for tests)."""
    return fn(resolve_app(app))
