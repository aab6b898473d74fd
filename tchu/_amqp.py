"""Publishing to RabbitMQ with kombu alone: confirms, the mandatory flag, pipelined batches, bounded reconnects.

:class:`AmqpPublisher` holds everything a publish needs except where its connections come from: the Celery
transport (:class:`tchu._celery.transport.CeleryTransport`) takes them from a Celery app's broker settings,
:class:`tchu.serverless.KombuTransport` from a broker URL. Nothing here imports Celery.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from typing import Any, NoReturn, TypeVar

import amqp
from amqp.exceptions import AMQPError, ChannelError, MessageNacked
from kombu.entity import Exchange
from kombu.exceptions import KombuError
from kombu.pools import connections, producers

from tchu._properties import Message
from tchu.envelope import CONTENT_ENCODING, CONTENT_TYPE, Envelope
from tchu.errors import BatchPublishError, PublishError, SetupError
from tchu.publisher import report_unroutable

logger = logging.getLogger("tchu.publish")

EXCHANGE_NAME = "tchu_events"
BROKER_ERRORS: tuple[type[BaseException], ...] = (KombuError, OSError, AMQPError)
DEFAULT_PUBLISH_TIMEOUT = 10.0
RECONNECT_ATTEMPTS = 4
RECONNECT_BACKOFF = (0.0, 0.5, 1.0, 2.0)
LANES_KEPT = 10  # idle publishing connections kept per broker, as many as Celery's broker_pool_limit
PERSISTENT = 2  # AMQP delivery modes
TRANSIENT = 1
BATCH_WINDOW = 1000  # unconfirmed events of a batch at most, so the broker's confirms never pile up unread
T = TypeVar("T")


def events_exchange() -> Any:
    """The ``tchu_events`` topic exchange, durable, as tchu-tchu 2.x declares it."""
    return Exchange(EXCHANGE_NAME, type="topic", durable=True)


EVENTS_EXCHANGE = events_exchange()


_origin: list[str] = []


def origin() -> str:
    """``pid@host`` of this process, as Celery writes it in the ``origin`` header (computed once per process)."""
    if not _origin:
        _origin.append(f"{os.getpid()}@{os.uname().nodename}")
    return _origin[0]


def describe(exc: BaseException) -> str:
    """``Type: message`` of an error, never empty (kombu and py-amqp raise some with no message)."""
    text = str(exc) or str(exc.__cause__ or "") or "no detail from the broker"
    return f"{type(exc).__name__}: {text}"


def _message(
    channel: Any, body: bytes, *, content_type: str, content_encoding: str, headers: Any, properties: dict[str, Any]
) -> Any:
    """The message to publish on ``channel``: on py-amqp's channels, one whose properties encode directly
    (:mod:`tchu._properties`); on any other transport's, what the channel prepares."""
    if isinstance(channel, amqp.Channel):
        return Message(
            body,
            content_type=content_type,
            content_encoding=content_encoding,
            application_headers=headers,
            **properties,
        )
    return channel.prepare_message(body, None, content_type, content_encoding, headers, properties)


class Lane:
    """One kombu connection and its channel, with ``tchu_events`` declared on it, used by one thread at a time.

    Publishing on a lane goes straight to the channel: no pool checkout, no producer, no declare per message.
    Returned (unroutable) messages are collected while a publish runs, and known when it returns with confirms.
    """

    __slots__ = ("channel", "connection", "declared", "returned", "timeout")
    channel: Any

    def __init__(self, template: Any) -> None:
        self.connection = template.clone()
        self.returned: list[Any] = []
        try:
            self.channel = self.connection.channel()
            self.channel.events["basic_return"].add(self._on_return)
            EVENTS_EXCHANGE(self.channel).declare()
        except BaseException:
            self.close()
            raise
        self.declared: set[tuple[str, str]] = {("Exchange", EXCHANGE_NAME)}
        self.timeout: float | None = None  # the socket's own timeout, once set to a publisher's

    def _on_return(self, _exc: Any, _exchange: Any, _key: Any, message: Any) -> None:
        self.returned.append(message)

    def declare(self, entity: Any) -> None:
        """Declare a kombu entity (a queue, an exchange) on this lane, once."""
        key = (type(entity).__name__, entity.name)
        if key not in self.declared:
            entity(self.channel).declare()
            self.declared.add(key)

    def publish(
        self,
        body: bytes,
        *,
        exchange: str,
        routing_key: str,
        headers: dict[str, Any],
        properties: dict[str, Any],
        content_type: str,
        content_encoding: str,
        mandatory: bool,
        timeout: float | None,
    ) -> list[Any]:
        """Publish one message; with confirms on, return after the broker's confirm. Returns what came back
        unroutable meanwhile (empty unless ``mandatory``)."""
        self.returned.clear()
        if timeout != self.timeout:
            # py-amqp sets a publish's timeout on the socket and back again around every frame it writes or
            # waits for, unless the socket has that timeout already: give it that timeout once
            sock = getattr(getattr(self.channel.connection, "transport", None), "sock", None)
            if sock is not None:
                sock.settimeout(timeout)
            self.timeout = timeout
        message = _message(
            self.channel,
            body,
            content_type=content_type,
            content_encoding=content_encoding,
            headers=headers,
            properties=properties,
        )
        self.channel.basic_publish(
            message,
            exchange=exchange,
            routing_key=routing_key,
            mandatory=mandatory,
            timeout=timeout,
            confirm_timeout=timeout,
        )
        return self.returned

    def close(self) -> None:
        """Close the connection; one that is already broken is dropped without a goodbye to the broker."""
        try:
            self.connection.release()
        except BROKER_ERRORS:
            self.connection.collect()


class Lanes:
    """The idle :class:`Lane` objects of one connection template: a publish takes one (or opens one) and gives it
    back, and at most ``keep`` idle lanes stay open.

    A lane that failed is closed, never reused. A connection error closes the idle lanes too: they reached the
    same broker, so the next publish opens a fresh one rather than finding each dead lane in turn. A forked
    child never uses its parent's lanes.
    """

    def __init__(self, template: Any, keep: int = LANES_KEPT) -> None:
        self.template = template
        self.keep = keep
        self._idle: list[Lane] = []
        _all_lanes.add(self)

    def take(self) -> Lane:
        """An idle lane, or a new one."""
        try:
            return self._idle.pop()  # atomic: two threads never get the same lane
        except IndexError:
            return Lane(self.template)

    def run(self, use: Callable[[Lane], T]) -> T:
        """``use(lane)`` on an idle (or new) lane, given back after; a lane that raised is discarded."""
        lane = self.take()
        try:
            result = use(lane)
        except BaseException as exc:
            self.discard(lane, exc)  # a channel that failed is not used again, whatever the error
            raise
        self.give(lane)
        return result

    def give(self, lane: Lane) -> None:
        """Return a lane that worked."""
        if len(self._idle) < self.keep:
            self._idle.append(lane)
        else:
            lane.close()

    def discard(self, lane: Lane, exc: BaseException) -> None:
        """Close a lane whose publish failed with ``exc``; after a connection error, the idle ones too."""
        lane.close()
        if not isinstance(exc, ChannelError | MessageNacked):
            self.close()

    def close(self) -> None:
        """Close every idle lane (the next publish opens a new one)."""
        idle, self._idle = self._idle, []
        for lane in idle:
            lane.close()

    def forget(self) -> None:
        """Drop the idle lanes unclosed: in a forked child they are the parent's sockets, which it still uses."""
        self._idle = []


_all_lanes: weakref.WeakSet[Lanes] = weakref.WeakSet()
_lanes_by_template: weakref.WeakKeyDictionary[Any, Lanes] = weakref.WeakKeyDictionary()
_making = threading.RLock()
K = TypeVar("K")
V = TypeVar("V")


def made_once(cache: MutableMapping[K, V], key: K, make: Callable[[], V]) -> V:
    """``cache[key]``, made with ``make()`` the first time; threads asking at once all get the one it made."""
    found = cache.get(key)
    if found is not None:  # the common case takes no lock
        return found
    with _making:
        found = cache.get(key)
        if found is None:
            found = cache[key] = make()
        return found


def transport_options(*, confirm: bool) -> dict[str, Any]:
    """kombu's transport options of a connection template: ``confirm_publish`` when ``confirm``."""
    return {"confirm_publish": True} if confirm else {}


def lanes_for(template: Any) -> Lanes:
    """The :class:`Lanes` of a kombu connection template (one per template, made on first use)."""
    return made_once(_lanes_by_template, template, lambda: Lanes(template))


def close_connections(template: Any) -> None:
    """Close the idle connections made from ``template`` (lanes and kombu's pools) and forget them, so an equal
    template made later gets fresh ones."""
    lanes = _lanes_by_template.pop(template, None)
    if lanes is not None:
        lanes.close()
    for group in (producers, connections):
        pool = group.pop(template, None)
        if pool is not None:
            pool.force_close_all()


def _forget_lanes_after_fork() -> None:
    _origin.clear()  # the child has its own pid
    for lanes in list(_all_lanes):
        lanes.forget()


os.register_at_fork(after_in_child=_forget_lanes_after_fork)


class AmqpPublisher:
    """Publishes envelopes to ``tchu_events``, confirmed, on :class:`Lanes` (kombu connections kept between
    publishes; a batch takes a connection from kombu's pool for a channel of its own).

    With ``confirm`` (the default) a publish returns only after the broker confirmed it; a negative confirm or no
    confirm within ``publish_timeout`` seconds raises :class:`PublishError`, as does a refusal (a missing
    exchange, an entity declared with other arguments). A lost connection is re-opened and the publish tried
    again, up to four times with backoff. Events are published with the mandatory flag: one that no queue is
    bound to is logged (``unroutable="log"``), raised as :class:`UnroutableError` (``"raise"``) or ignored; with
    confirms on, this is known before ``send`` returns. Subclasses say where connections come from
    (:meth:`_template`) and may act before the first publish (:meth:`_before_publish`).
    """

    def __init__(
        self, *, confirm: bool = True, publish_timeout: float = DEFAULT_PUBLISH_TIMEOUT, unroutable: str = "log"
    ) -> None:
        if unroutable not in {"log", "raise", "ignore"}:
            raise SetupError(f"unroutable must be 'log', 'raise' or 'ignore', got {unroutable!r}")
        self.confirm = confirm
        self.publish_timeout = publish_timeout
        self.unroutable = unroutable

    def _template(self, *, confirm: bool) -> Any:
        """The kombu connection kombu's pools key on, with ``confirm_publish`` when ``confirm``."""
        raise NotImplementedError

    def _before_publish(self) -> None:
        """Called before every publish; nothing by default."""

    def _lanes(self) -> Lanes:
        """This publisher's open channels (shared by every publisher with the same connection template)."""
        return lanes_for(self._template(confirm=self.confirm))

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
        persistent: bool = True,
    ) -> bool:
        """Publish one message (JSON unless ``content_type`` says otherwise); reconnect and retry when the
        connection is lost. ``declare`` names entities (a queue, say) to declare first, once per connection. The
        message is persistent unless ``persistent`` is false (then the broker confirms it without writing it
        to disk, and loses it if it restarts).

        Returns whether the message was routed: False when ``mandatory`` and the broker returned it (known with
        confirms only; without them it is reported True).

        Raises:
            PublishError: the broker refused the message, did not confirm it in time, or stayed unreachable.
        """
        properties = {**properties, "delivery_mode": PERSISTENT if persistent else TRANSIENT}
        if expiration is not None:
            properties["expiration"] = str(int(expiration * 1000))  # AMQP's per-message TTL, in milliseconds
        lanes = self._lanes()

        def publish(lane: Lane) -> bool:
            for entity in declare:
                lane.declare(entity)
            returned = lane.publish(
                body,
                exchange=exchange,
                routing_key=routing_key,
                headers=headers,
                properties=properties,
                content_type=content_type,
                content_encoding=content_encoding,
                mandatory=mandatory,
                timeout=self.publish_timeout,
            )
            # with confirms the broker returns a message before confirming it; without, a return read now may be
            # an earlier message's, so nothing is concluded from it
            return not (returned and self.confirm)

        what = what or repr(routing_key)
        try:
            return _reconnecting(what, lambda: lanes.run(publish), _publish_error)
        except MessageNacked as exc:
            raise PublishError(f"the broker refused {what} (negative confirm); it was not delivered") from exc

    def consumers_of(self, queue: str) -> int:
        """How many consumers ``queue`` has, asked of the broker (a passive declare).

        Raises:
            ChannelError: with code 404 when the queue does not exist (or another broker error).
        """
        _, _, consumers = self._lanes().run(lambda lane: lane.channel.queue_declare(queue, passive=True))
        return int(consumers)

    def send(self, envelope: Envelope) -> None:
        """Publish an event to ``tchu_events`` under its routing key."""
        self._before_publish()
        msg = envelope.task_message(origin=origin())
        routed = self.publish_message(
            msg.body,
            exchange=EXCHANGE_NAME,
            routing_key=envelope.routing_key,
            headers=msg.headers,
            properties=msg.properties,
            what=f"event {envelope.routing_key!r}",
            mandatory=self.unroutable != "ignore",
        )
        if not routed:
            self._unroutable(envelope)

    def _unroutable(self, envelope: Envelope) -> None:
        report_unroutable(envelope, self.unroutable)

    def send_many(self, envelopes: Sequence[Envelope]) -> None:
        """Publish events pipelined on one channel and wait once for all their confirms.

        At most ``BATCH_WINDOW`` events are unconfirmed at a time. After a lost connection, the events not yet
        confirmed are published again (with their event ids, so consumers can recognise a repeat), up to four
        times. Without ``confirm`` the events are published and not waited for.

        Raises:
            BatchPublishError: events were refused (negative confirm), not confirmed in time, or the broker stayed
                unreachable; ``unconfirmed`` names them (every other event reached the broker).
        """
        self._before_publish()
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
        with connections[self._template(confirm=False)].acquire(block=True, timeout=self.publish_timeout) as conn:
            conn.ensure_connection(max_retries=1)  # a pooled connection the broker closed opens again here
            channel = conn.channel()
            try:
                if self.confirm:
                    channel.confirm_select()
                    channel.events["basic_ack"].add(batch.on_ack)
                    channel.events["basic_nack"].add(batch.on_nack)
                channel.events["basic_return"].add(batch.on_return)
                EVENTS_EXCHANGE(channel).declare()
                deadline = time.monotonic() + self.publish_timeout
                batch.in_flight.clear()
                mandatory = self.unroutable != "ignore"
                for tag, env in enumerate(list(batch.pending.values()), start=1):
                    msg = env.task_message(origin=origin())
                    message = _message(
                        channel,
                        msg.body,
                        content_type=CONTENT_TYPE,
                        content_encoding=CONTENT_ENCODING,
                        headers=msg.headers,
                        properties={**msg.properties, "delivery_mode": PERSISTENT},
                    )
                    channel.basic_publish(
                        message, exchange=EXCHANGE_NAME, routing_key=env.routing_key, mandatory=mandatory
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
        event_id = (message.headers or {}).get("id")  # the task id, which is the event id
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
