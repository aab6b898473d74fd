"""Publishing envelopes to RabbitMQ, and RPC calls, over a Celery app's broker settings."""

from __future__ import annotations

import functools
import logging
import time
import weakref
from typing import Any

from celery.backends.base import DisabledBackend
from celery.exceptions import TimeoutError as CeleryTimeoutError
from kombu.pools import producers

from tchu._amqp import (
    BROKER_ERRORS,
    DEFAULT_PUBLISH_TIMEOUT,
    AmqpPublisher,
    close_connections,
    describe,
    made_once,
    origin,
    transport_options,
)
from tchu._celery.common import RPC_TASK_NAME, resolve_app, rpc_queue_name
from tchu.envelope import Envelope
from tchu.errors import (
    NoResponderError,
    PublishError,
    RemoteError,
    RPCError,
    RPCTimeoutError,
    SetupError,
    TchuError,
)

logger = logging.getLogger("tchu.publish")

NOT_FOUND = 404  # AMQP reply code
RESPONDER_KNOWN_FOR = 2.0  # seconds a call trusts that the responder it found is still there

# One template connection per app and confirm mode: kombu's pools key on it, so every client of an app shares
# one bounded, thread-safe pool of connections that is reset in forked children.
_templates: weakref.WeakKeyDictionary[Any, dict[bool, Any]] = weakref.WeakKeyDictionary()


def _template(app: Any, *, confirm: bool) -> Any:
    """The app's template for ``confirm``: one per app and mode, even when threads publish their first event at once."""
    per_app = made_once(_templates, app, dict)
    return made_once(
        per_app, confirm, lambda: app.connection_for_write(transport_options=transport_options(confirm=confirm))
    )


class CeleryTransport(AmqpPublisher):
    """Publishes envelopes to ``tchu_events`` (as :class:`~tchu._amqp.AmqpPublisher` says) and RPC requests to
    their responder queue, over the broker settings of a Celery app.

    ``declare_service`` makes the first publish of a process declare the app's service queue and bindings (see
    :func:`tchu.setup_service`).
    """

    def __init__(
        self,
        app: Any = None,
        *,
        confirm: bool = True,
        publish_timeout: float = DEFAULT_PUBLISH_TIMEOUT,
        declare_service: bool = True,
        unroutable: str = "log",
    ) -> None:
        super().__init__(confirm=confirm, publish_timeout=publish_timeout, unroutable=unroutable)
        self._app = app
        self.declare_service = declare_service
        self._responders: dict[str, float] = {}  # rpc queue -> until when a consumer of it is known

    def _template(self, *, confirm: bool) -> Any:
        return _template(self.app, confirm=confirm)

    def _before_publish(self) -> None:
        self._ensure_service()

    @property
    def app(self) -> Any:
        """The Celery app whose broker settings are used."""
        return resolve_app(self._app)

    def close(self) -> None:
        """Release pooled connections of this app that are idle (they reopen on the next publish)."""
        per_app = _templates.get(self.app, {})
        for template in per_app.values():
            close_connections(template)
        per_app.clear()

    def _ensure_service(self) -> None:
        if self.declare_service:
            _ensure_declared_for()(self.app)

    def call(self, envelope: Envelope, timeout: float) -> Any:
        """Send an RPC request to the key's responder queue and wait for the reply."""
        app = self.app
        key = envelope.routing_key
        if isinstance(app.backend, DisabledBackend):
            raise SetupError(f"call {key!r} needs a result backend: create the Celery app with backend=...")
        self._ensure_service()
        queue = rpc_queue_name(key)
        self._check_responder(key, queue)
        msg = envelope.task_message(task_name=RPC_TASK_NAME, reply_to=app.thread_oid, origin=origin(), expires=timeout)
        task_id = msg.headers["id"]
        try:
            pool = producers[_template(app, confirm=self.confirm)]
            with pool.acquire(block=True, timeout=self.publish_timeout) as p:
                app.backend.on_task_call(p, task_id)
        except Exception as exc:  # the result backend is pluggable: any failure of it is a backend failure
            raise PublishError(f"the result backend cannot take the reply of {key!r}: {describe(exc)}") from exc
        self.publish_message(
            msg.body,
            exchange="",
            routing_key=queue,
            headers=msg.headers,
            properties=msg.properties,
            expiration=timeout,  # a request nobody took in time is dropped by the broker
            what=f"call {key!r}",
            persistent=False,  # it matters only while its caller waits: confirmed without a disk write
        )
        return _reply(app.AsyncResult(task_id), key, envelope.event_id, timeout)

    def _check_responder(self, routing_key: str, queue: str) -> None:
        """Raise :class:`NoResponderError` unless a worker consumes ``queue``; a positive answer is trusted for
        ``RESPONDER_KNOWN_FOR`` seconds, so calls in a row ask the broker once."""
        if self._responders.get(queue, 0.0) > time.monotonic():
            return
        try:
            consumers = self.consumers_of(queue)
        except BROKER_ERRORS as exc:
            if getattr(exc, "code", None) == NOT_FOUND:
                raise NoResponderError(
                    f"no service responds to {routing_key!r}: queue {queue!r} does not exist; register a "
                    "handler with @respond in a service set up with tchu and start its worker"
                ) from exc
            raise PublishError(f"could not check the responders of {routing_key!r}: {describe(exc)}") from exc
        if consumers == 0:
            raise NoResponderError(
                f"no worker is consuming {queue!r}, so nobody would answer {routing_key!r}; "
                "start a worker of the responding service"
            )
        self._responders[queue] = time.monotonic() + RESPONDER_KNOWN_FOR


@functools.cache
def _ensure_declared_for() -> Any:
    """:func:`tchu._celery.service.ensure_declared_for`, imported on first use (that module imports this one)."""
    from tchu._celery.service import ensure_declared_for  # noqa: PLC0415

    return ensure_declared_for


def _reply(result: Any, routing_key: str, event_id: str, timeout: float) -> Any:
    try:
        value = result.get(timeout=timeout, propagate=False, disable_sync_subtasks=False)
    except CeleryTimeoutError as exc:
        raise RPCTimeoutError(f"no reply to call {routing_key!r} (event {event_id}) within {timeout} s") from exc
    except TchuError:
        raise
    except Exception as exc:  # the result backend is pluggable: any failure of it is a backend failure
        raise RPCError(f"the result backend failed while waiting for {routing_key!r}: {describe(exc)}") from exc
    finally:
        try:
            result.forget()
        except Exception:  # forgetting is housekeeping: it must never hide the call's outcome
            logger.debug("could not forget the result of %s", event_id, exc_info=True)
    if isinstance(value, RemoteError):
        raise RemoteError(routing_key, value.remote_type, value.remote_message)
    if isinstance(value, BaseException):
        raise RemoteError(routing_key, type(value).__name__, str(value))
    return value
