"""One-call service set-up: a queue bound with exactly the patterns of its handlers."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from importlib import import_module
from typing import Any

from celery import signals
from celery.exceptions import WorkerShutdown
from kombu.entity import Exchange, Queue, binding
from kombu.exceptions import OperationalError

from tchu._celery.common import (
    BROKER_ERRORS,
    EXCHANGE_NAME,
    SETUP_ERRORS,
    dead_letter_queue,
    describe,
    events_exchange,
    queue_arguments,
    rpc_queue,
)
from tchu._celery.worker import create_topic_dispatcher, runtimes
from tchu._management import ManagementAPI, ManagementError, vhost_of
from tchu.catalog import Catalog
from tchu.envelope import TASK_NAME
from tchu.errors import PublishError, SetupError
from tchu.idempotency import IdempotencyGuard
from tchu.router import Router, default_router
from tchu.signing import Signer

logger = logging.getLogger("tchu.setup")

PRECONDITION_FAILED = 406  # AMQP reply code: an entity exists with other arguments


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

    def log(self, service: str) -> None:
        """Log the report: the bindings at INFO, stale ones (or not checking them) at WARNING."""
        logger.info("service %s: queue %s bound to %s", service, self.queue, list(self.bound))
        if not self.bound:
            logger.warning("service %s has no handlers: queue %s is bound to nothing", service, self.queue)
        if not self.checked:
            logger.warning("service %s: stale bindings not checked (management API unreachable)", service)
        if self.removed:
            logger.info("service %s: removed stale bindings %s from %s", service, list(self.removed), self.queue)
        elif self.stale:
            logger.warning(
                "service %s: queue %s has bindings no handler needs: %s; events matching them are "
                "dead-lettered as 'no handler'. Remove them with setup_service(..., remove_stale=True)",
                service,
                self.queue,
                list(self.stale),
            )


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
    queue_type: str = "classic"
    dispatcher: Any = None
    celery_queue: Any = None
    report: BindingReport | None = None
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

    def declare(self, *, remove_stale: bool | None = None, check_stale: bool = True, log: bool = True) -> BindingReport:
        """Declare the exchange, the service queue with its bindings, and its dead-letter queue.

        With ``check_stale``, bindings to ``tchu_events`` that no handler needs are found through the management
        API and, with ``remove_stale``, unbound. ``log`` logs the report. Safe to call repeatedly.

        Raises:
            SetupError: an entity exists with other arguments (named), or a handler module cannot be imported.
            PublishError: the broker cannot be reached or refused a declaration.
        """
        patterns = self.patterns()
        remove = self.remove_stale if remove_stale is None else remove_stale
        try:
            with self.app.connection_for_write() as conn:
                channel = conn.default_channel
                self._step(f"exchange {EXCHANGE_NAME!r}", lambda: events_exchange().declare(channel=channel))
                args = queue_arguments(self.queue_type)
                queue = Queue(self.queue_name, durable=True, auto_delete=False, queue_arguments=args)
                self._step(f"queue {self.queue_name!r}", lambda: queue.declare(channel=channel))
                for pattern in patterns:
                    bind = partial(queue.bind_to, events_exchange(), routing_key=pattern, channel=channel)
                    self._step(f"binding {pattern!r}", bind)
                dlq = dead_letter_queue(self.queue_name, self.queue_type)
                self._step(f"queue {dlq.name!r}", lambda: dlq.declare(channel=channel))
                report = BindingReport(self.queue_name, tuple(patterns))
                if check_stale:
                    report = self._stale(patterns, remove, channel, conn.as_uri(include_password=True))
        except OperationalError as exc:
            raise PublishError(f"service {self.name!r}: cannot reach the broker: {describe(exc)}") from exc
        self._update_celery_queue(patterns)
        self._declared_pid = os.getpid()
        self.report = report
        if log:
            report.log(self.name)
        return report

    def _step(self, what: str, declare: Callable[[], object]) -> None:
        try:
            declare()
        except OperationalError:
            raise
        except BROKER_ERRORS as exc:
            if getattr(exc, "code", None) == PRECONDITION_FAILED:
                raise SetupError(
                    f"service {self.name!r}: {what} already exists with other arguments ({describe(exc)}); "
                    "delete it, or give the service another queue with setup_service(..., queue=...)"
                ) from exc
            raise PublishError(f"service {self.name!r}: the broker refused {what}: {describe(exc)}") from exc

    def ensure_declared(self) -> None:
        """Declare once per process, adding bindings only (the publisher side, before its first publish).

        Stale bindings are left to the workers, so an older process never unbinds what a newer one needs.
        """
        if self._declared_pid == os.getpid():  # every publish asks: no lock once declared
            return
        with self._lock:
            if self._declared_pid != os.getpid():
                self.declare(check_stale=False, log=False)

    def _stale(self, patterns: list[str], remove: bool, channel: Any, url: str) -> BindingReport:
        api = ManagementAPI.for_broker(url, self.management_url)
        try:
            found = api.queue_bindings(vhost_of(url), self.queue_name)
        except ManagementError as exc:
            logger.debug("service %s: stale bindings not checked: %s", self.name, exc)
            return BindingReport(self.queue_name, tuple(patterns), checked=False)
        stale = tuple(sorted({b.pattern for b in found if b.exchange == EXCHANGE_NAME} - set(patterns)))
        if stale and remove:
            for pattern in stale:
                self._step(
                    f"unbinding {pattern!r}", partial(channel.queue_unbind, self.queue_name, EXCHANGE_NAME, pattern)
                )
            return BindingReport(self.queue_name, tuple(patterns), stale, stale)
        return BindingReport(self.queue_name, tuple(patterns), stale)

    def _update_celery_queue(self, patterns: list[str]) -> None:
        # Celery's own copy of the queue, so a reconnecting worker declares the same bindings again.
        q = self.celery_queue
        if q is None or not patterns:
            return
        q.routing_key = patterns[0]
        q.bindings = {binding(events_exchange(), routing_key=p) for p in patterns}
        q.no_declare = False


services: weakref.WeakKeyDictionary[Any, Service] = weakref.WeakKeyDictionary()


def ensure_declared_for(app: Any) -> None:
    """Declare ``app``'s service once in this process, if it has one.

    Raises:
        SetupError: the service is configured in a way the broker refuses.
        PublishError: the broker cannot be reached.
    """
    svc = services.get(app)
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
    queue_type: str = "classic",
    idempotency: IdempotencyGuard | None = None,
    signer: Signer | None = None,
) -> Service:
    """Set up a Celery app as tchu service ``service`` in one call.

    Adds the durable queue ``<service>_queue`` (or ``queue``) to the app's task queues, creates the dispatcher,
    and, when a worker starts (and before this process first publishes), imports the ``handlers`` modules and
    binds the queue to ``tchu_events`` with exactly the patterns of the registered handlers. RPC responders get
    their request queues. Nothing connects to the broker during this call; a worker whose set-up fails exits
    instead of consuming. ``queue_type="quorum"`` makes the service queue and its dead-letter queue quorum
    queues (replicated; Celery 5.5+ detects them and turns off global QoS, which they do not support).
    ``idempotency`` (e.g. :class:`~tchu.idempotency.RedisIdempotency`) skips handlers that already completed a
    redelivered event. ``signer`` (:class:`~tchu.signing.Signer`) lets only correctly signed events and calls
    reach the handlers; the others are dead-lettered (calls are answered with a ``RemoteError``).

    Example:
        >>> app = Celery("users", broker="amqp://guest:guest@localhost//")
        >>> service = setup_service(app, "users", handlers=["users.subscribers"])
    """
    if not isinstance(service, str) or not service.strip():
        raise SetupError(f"service name must be a non-empty string, got {service!r}")
    if queue_type not in {"classic", "quorum"}:
        raise SetupError(f"queue_type must be 'classic' or 'quorum', got {queue_type!r}")
    app = celery_app
    router = router if router is not None else default_router
    queue_name = queue or f"{service}_queue"
    celery_queue = Queue(
        queue_name,
        exchange=events_exchange(),
        durable=True,
        auto_delete=False,
        no_declare=True,
        queue_arguments=queue_arguments(queue_type),
    )
    conf = app.conf
    queues = list(conf.task_queues or [_default_queue(app)])
    conf.task_queues = [q for q in queues if q.name != queue_name] + [celery_queue]
    routes = dict(conf.task_routes) if isinstance(conf.task_routes, dict) else {}
    routes[TASK_NAME] = {"queue": queue_name}
    conf.task_routes = routes
    svc = Service(app, service, queue_name, router, tuple(handlers), remove_stale, management_url, queue_type)
    svc.celery_queue = celery_queue
    services[app] = svc
    svc.dispatcher = create_topic_dispatcher(
        app,
        router=router,
        catalog=catalog,
        queue=queue_name,
        queue_type=queue_type,
        idempotency=idempotency,
        signer=signer,
    )
    return svc


def _default_queue(app: Any) -> Any:
    conf = app.conf
    name = conf.task_default_queue
    exchange = Exchange(conf.task_default_exchange or name, type=conf.task_default_exchange_type)
    return Queue(name, exchange, routing_key=conf.task_default_routing_key or name)


@signals.worker_init.connect(weak=False)
def _on_worker_init(sender: Any = None, **_: Any) -> None:
    """Declare the worker's service and add the RPC queues of its responders; refuse to start on failure."""
    app = getattr(sender, "app", None)
    if app is None:
        return
    svc = services.get(app)
    runtime = runtimes.get(app)
    try:
        if svc is not None:
            svc.declare(log=False)  # logging is not configured yet: the report is logged when the worker is ready
        if runtime is not None:
            for responder in runtime.dispatcher.router.responders():
                app.amqp.queues.select_add(rpc_queue(responder.routing_key))
    except SETUP_ERRORS as exc:
        name = svc.name if svc is not None else app.main
        logger.critical("tchu set-up of %s failed, the worker will not start: %s", name, exc)
        raise WorkerShutdown(f"tchu set-up of {name} failed: {exc}") from exc


@signals.worker_ready.connect(weak=False)
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    app = getattr(sender, "app", None)
    svc = services.get(app) if app is not None else None
    if svc is not None and svc.report is not None:
        svc.report.log(svc.name)
