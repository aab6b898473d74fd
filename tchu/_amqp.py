"""Publishing to RabbitMQ with kombu alone: confirms, the mandatory flag, pipelined batches, bounded reconnects.

:class:`AmqpPublisher` holds everything a publish needs except where its connections come from: the Celery
transport (:class:`tchu._celery.transport.CeleryTransport`) takes them from a Celery app's broker settings,
:class:`tchu.serverless.KombuTransport` from a broker URL. Nothing here imports Celery.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn, TypeVar

from amqp.exceptions import AMQPError, ChannelError, MessageNacked
from kombu.common import maybe_declare
from kombu.entity import Exchange
from kombu.exceptions import KombuError
from kombu.messaging import Producer
from kombu.pools import connections, producers

from tchu.envelope import CONTENT_ENCODING, CONTENT_TYPE, Envelope
from tchu.errors import BatchPublishError, PublishError, SetupError
from tchu.publisher import report_unroutable

logger = logging.getLogger("tchu.publish")

EXCHANGE_NAME = "tchu_events"
BROKER_ERRORS: tuple[type[BaseException], ...] = (KombuError, OSError, AMQPError)
DEFAULT_PUBLISH_TIMEOUT = 10.0
RECONNECT_ATTEMPTS = 4
RECONNECT_BACKOFF = (0.0, 0.5, 1.0, 2.0)
BATCH_WINDOW = 1000  # unconfirmed events of a batch at most, so the broker's confirms never pile up unread
T = TypeVar("T")


def events_exchange() -> Any:
    """The ``tchu_events`` topic exchange, durable, as tchu-tchu 2.x declares it."""
    return Exchange(EXCHANGE_NAME, type="topic", durable=True)


EVENTS_EXCHANGE = events_exchange()


def origin() -> str:
    """``pid@host`` of this process, as Celery writes it in the ``origin`` header."""
    return f"{os.getpid()}@{os.uname().nodename}"


def describe(exc: BaseException) -> str:
    """``Type: message`` of an error, never empty (kombu and py-amqp raise some with no message)."""
    text = str(exc) or str(exc.__cause__ or "") or "no detail from the broker"
    return f"{type(exc).__name__}: {text}"


class AmqpPublisher:
    """Publishes envelopes to ``tchu_events``, confirmed, over pooled kombu connections.

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

        template = self._template(confirm=self.confirm)

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
        self._before_publish()
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
