"""Publishing envelopes to RabbitMQ, and RPC calls, over a Celery app's broker settings."""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn, TypeVar

from amqp.exceptions import ChannelError, MessageNacked
from celery.backends.base import DisabledBackend
from celery.exceptions import TimeoutError as CeleryTimeoutError
from kombu.common import maybe_declare
from kombu.messaging import Producer
from kombu.pools import connections, producers

from tchu._celery.common import (
    BROKER_ERRORS,
    EXCHANGE_NAME,
    RPC_TASK_NAME,
    describe,
    events_exchange,
    origin,
    resolve_app,
    rpc_queue_name,
)
from tchu.envelope import CONTENT_ENCODING, CONTENT_TYPE, Envelope
from tchu.errors import (
    BatchPublishError,
    NoResponderError,
    PublishError,
    RemoteError,
    RPCError,
    RPCTimeoutError,
    SetupError,
    TchuError,
    UnroutableError,
)

logger = logging.getLogger("tchu.publish")
EVENTS_EXCHANGE = events_exchange()

DEFAULT_PUBLISH_TIMEOUT = 10.0
RECONNECT_ATTEMPTS = 4
RECONNECT_BACKOFF = (0.0, 0.5, 1.0, 2.0)
NOT_FOUND = 404  # AMQP reply code
T = TypeVar("T")
BATCH_WINDOW = 1000  # unconfirmed events of a batch at most, so the broker's confirms never pile up unread

# One template connection per app and confirm mode: kombu's pools key on it, so every client of an app shares
# one bounded, thread-safe pool of connections that is reset in forked children.
_templates: weakref.WeakKeyDictionary[Any, dict[bool, Any]] = weakref.WeakKeyDictionary()


def _template(app: Any, *, confirm: bool) -> Any:
    per_app = _templates.setdefault(app, {})
    if confirm not in per_app:
        options = {"confirm_publish": True} if confirm else {}
        per_app[confirm] = app.connection_for_write(transport_options=options)
    return per_app[confirm]


class CeleryTransport:
    """Publishes envelopes to ``tchu_events`` and RPC requests to their responder queue.

    With ``confirm`` (the default) a publish returns only after the broker confirmed it; a negative confirm or no
    confirm within ``publish_timeout`` seconds raises :class:`PublishError`, as does a refusal (a missing
    exchange, an entity declared with other arguments). A lost connection is re-opened and the publish tried
    again, up to four times with backoff. ``declare_service`` makes the first publish of a
    process declare the app's service queue and bindings (see :func:`tchu.setup_service`). Events are published
    with the mandatory flag: one that no queue is bound to is logged (``unroutable="log"``), raised as
    :class:`UnroutableError` (``"raise"``) or ignored; with confirms on, this is known before ``send`` returns.
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
        if unroutable not in {"log", "raise", "ignore"}:
            raise SetupError(f"unroutable must be 'log', 'raise' or 'ignore', got {unroutable!r}")
        self._app = app
        self.confirm = confirm
        self.publish_timeout = publish_timeout
        self.declare_service = declare_service
        self.unroutable = unroutable

    @property
    def app(self) -> Any:
        """The Celery app whose broker settings are used."""
        return resolve_app(self._app)

    def close(self) -> None:
        """Release pooled connections of this app that are idle (they reopen on the next publish)."""
        per_app = _templates.get(self.app, {})
        for template in per_app.values():
            for group in (producers, connections):
                pool = group.pop(template, None)  # an equal template made later must get a fresh pool
                if pool is not None:
                    pool.force_close_all()
        per_app.clear()

    def _ensure_service(self) -> None:
        if not self.declare_service:
            return
        from tchu._celery.service import ensure_declared_for  # noqa: PLC0415 -- service imports this module

        ensure_declared_for(self.app)

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
        mandatory: bool = False,
        content_type: str = CONTENT_TYPE,
        content_encoding: str = CONTENT_ENCODING,
    ) -> bool:
        """Publish one persistent message (JSON unless ``content_type`` says otherwise); reconnect and retry when
        the connection is lost.

        Returns whether the message was routed: False when ``mandatory`` and the broker returned it (known with
        confirms only; without them it is reported True).

        Raises:
            PublishError: the broker refused the message, did not confirm it in time, or stayed unreachable.
        """
        what = what or repr(routing_key)
        returned: list[str] = []

        def on_return(_exc: Any, _exchange: Any, key: Any, _message: Any) -> None:
            returned.append(str(key))

        template = _template(self.app, confirm=self.confirm)

        def attempt() -> bool:
            with producers[template].acquire(block=True, timeout=self.publish_timeout) as producer:
                returns = producer.channel.events["basic_return"]
                returns.add(on_return)
                try:
                    producer.publish(
                        body,
                        exchange=exchange,
                        routing_key=routing_key,
                        headers=headers,
                        content_type=content_type,
                        content_encoding=content_encoding,
                        delivery_mode=2,
                        declare=list(declare),
                        expiration=expiration,
                        timeout=self.publish_timeout,
                        confirm_timeout=self.publish_timeout,
                        mandatory=mandatory,
                        **properties,
                    )
                except (*BROKER_ERRORS, MessageNacked):
                    producer.connection.collect()  # drop the socket; the pool opens a new one next time
                    raise
                finally:
                    returns.discard(on_return)
            return not returned

        try:
            return _reconnecting(what, attempt, _publish_error)
        except MessageNacked as exc:
            raise PublishError(f"the broker refused {what} (negative confirm); it was not delivered") from exc

    def send(self, envelope: Envelope) -> None:
        """Publish an event to ``tchu_events`` under its routing key."""
        self._ensure_service()
        msg = envelope.task_message(origin=origin())
        routed = self.publish_message(
            msg.body,
            exchange=EXCHANGE_NAME,
            routing_key=envelope.routing_key,
            headers=msg.headers,
            properties=msg.properties,
            declare=[EVENTS_EXCHANGE],  # kombu declares it once per connection
            what=f"event {envelope.routing_key!r}",
            mandatory=self.unroutable != "ignore",
        )
        if not routed:
            self._unroutable(envelope)

    def _unroutable(self, envelope: Envelope) -> None:
        if self.unroutable == "ignore":
            return
        text = f"no queue is bound to {envelope.routing_key!r}: event {envelope.event_id} reached no service"
        if self.unroutable == "raise":
            raise UnroutableError(text)
        logger.warning(text, extra={"routing_key": envelope.routing_key, "event_id": envelope.event_id})

    def send_many(self, envelopes: Sequence[Envelope]) -> None:
        """Publish events pipelined on one channel and wait once for all their confirms.

        At most ``BATCH_WINDOW`` events are unconfirmed at a time. After a lost connection, the events not yet
        confirmed are published again (with their event ids, so consumers can recognise a repeat), up to four
        times. Without ``confirm`` the events are published and not waited for.

        Raises:
            BatchPublishError: events were refused (negative confirm), not confirmed in time, or the broker stayed
                unreachable; ``unconfirmed`` names them (every other event reached the broker).
        """
        self._ensure_service()
        batch = _Batch(envelopes)
        _reconnecting("a batch", lambda: self._pipeline(batch), batch.fail)  # each try sends what is unconfirmed
        if batch.nacked:
            batch.fail("the broker refused them (negative confirm)")
        if batch.timed_out:
            batch.fail(f"no confirm within {self.publish_timeout} s")
        for env in batch.returned:
            self._unroutable(env)

    def _pipeline(self, batch: _Batch) -> None:
        """Publish every pending envelope of ``batch`` on a fresh channel and collect the confirms."""
        with connections[_template(self.app, confirm=False)].acquire(block=True, timeout=self.publish_timeout) as conn:
            conn.ensure_connection(max_retries=1)  # a pooled connection the broker closed opens again here
            channel = conn.channel()
            try:
                if self.confirm:
                    channel.confirm_select()
                    channel.events["basic_ack"].add(batch.on_ack)
                    channel.events["basic_nack"].add(batch.on_nack)
                channel.events["basic_return"].add(batch.on_return)
                producer = Producer(channel, auto_declare=False)
                maybe_declare(EVENTS_EXCHANGE, channel)
                deadline = time.monotonic() + self.publish_timeout
                batch.in_flight.clear()
                for tag, env in enumerate(list(batch.pending.values()), start=1):
                    msg = env.task_message(origin=origin())
                    producer.publish(
                        msg.body,
                        exchange=EXCHANGE_NAME,
                        routing_key=env.routing_key,
                        headers=msg.headers,
                        content_type=CONTENT_TYPE,
                        content_encoding=CONTENT_ENCODING,
                        delivery_mode=2,
                        mandatory=self.unroutable != "ignore",
                        **msg.properties,
                    )
                    if self.confirm:
                        batch.in_flight[tag] = env.event_id
                    else:
                        del batch.pending[env.event_id]
                    while len(batch.in_flight) >= BATCH_WINDOW and _drain(conn, deadline):
                        pass
                while batch.in_flight and _drain(conn, deadline):
                    pass
                batch.timed_out = bool(batch.in_flight)
            except BROKER_ERRORS:
                conn.collect()  # drop the socket; the pool opens a new one next time
                raise
            finally:
                if channel.is_open:
                    channel.close()

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
        )
        return _reply(app.AsyncResult(task_id), key, envelope.event_id, timeout)

    def _check_responder(self, routing_key: str, queue: str) -> None:
        try:
            pool = connections[_template(self.app, confirm=self.confirm)]
            with pool.acquire(block=True, timeout=self.publish_timeout) as c:
                channel = c.channel()
                try:
                    _, _, consumers = channel.queue_declare(queue, passive=True)
                finally:
                    if channel.is_open:
                        channel.close()
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


def _reconnecting(what: str, operation: Callable[[], T], fail: Callable[[str, BaseException], NoReturn]) -> T:
    """``operation()``, tried again on a lost connection up to four times with backoff.

    A refusal (not found, access, arguments) is never tried again. ``fail`` raises the caller's error from the
    reason and the broker's exception.
    """
    for attempt, pause in enumerate(RECONNECT_BACKOFF, start=1):
        if pause:  # even sleep(0) is a system call: the first try goes at once
            time.sleep(pause)
        try:
            return operation()
        except ChannelError as exc:  # refused: trying again cannot help
            fail(f"the broker refused {what}: {describe(exc)}", exc)
        except BROKER_ERRORS as exc:
            if attempt == len(RECONNECT_BACKOFF):
                fail(f"could not publish {what} after {attempt} attempts: {describe(exc)}", exc)
            logger.warning("publishing %s failed (%s); reconnecting", what, describe(exc))
    raise AssertionError("not reached: the last attempt returns or fails")


def _publish_error(reason: str, cause: BaseException) -> NoReturn:
    raise PublishError(reason) from cause


class _Batch:
    """The state of one ``send_many``: events not yet confirmed, the delivery tags in flight, the outcomes."""

    def __init__(self, envelopes: Sequence[Envelope]) -> None:
        self.total = len(envelopes)
        self.pending = {env.event_id: env for env in envelopes}  # not yet confirmed
        self.in_flight: dict[int, str] = {}  # delivery tag on the current channel -> event id
        self.nacked: list[str] = []
        self.returned: list[Envelope] = []
        self.timed_out = False

    def _settle(self, tag: int, multiple: bool) -> list[str]:
        tags = [t for t in self.in_flight if t <= tag] if multiple else [tag]
        return [self.in_flight.pop(t) for t in tags if t in self.in_flight]

    def on_ack(self, tag: int, multiple: bool) -> None:
        for event_id in self._settle(tag, multiple):
            self.pending.pop(event_id, None)

    def on_nack(self, tag: int, multiple: bool) -> None:
        self.nacked += self._settle(tag, multiple)

    def on_return(self, _exc: Any, _exchange: Any, _key: Any, message: Any) -> None:
        event_id = (message.headers or {}).get("tchu_event_id")
        if event_id in self.pending and self.pending[event_id] not in self.returned:
            self.returned.append(self.pending[event_id])

    def fail(self, reason: str, cause: BaseException | None = None) -> NoReturn:
        unconfirmed = list(self.pending)
        raise BatchPublishError(
            f"{len(unconfirmed)} of {self.total} events of the batch were not confirmed: {reason}; the others "
            "reached the broker (BatchPublishError.unconfirmed names them)",
            unconfirmed,
        ) from cause


def _drain(conn: Any, deadline: float) -> bool:
    """Process the broker's frames (confirms, returns) until one arrives or ``deadline``; False once it passed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return False
    try:
        conn.drain_events(timeout=remaining)
    except TimeoutError:  # socket.timeout: no frame before the deadline
        return False
    return True


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
