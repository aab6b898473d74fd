"""Watch ``tchu_events`` from the outside: a temporary queue bound with one pattern, read without acknowledgements.

The queue is exclusive and auto-deleted, so it disappears with the connection and never holds events for
nobody; the services' own queues are not touched.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from kombu.entity import Queue
from kombu.messaging import Consumer

from tchu._celery.broker import BrokerError, connect
from tchu._celery.common import BROKER_ERRORS, describe, events_exchange
from tchu.topics import compile_pattern

LISTEN_QUEUE_PREFIX = "tchu.listen."


@dataclass(frozen=True)
class Delivery:
    """One message as it arrived on the listening queue, not decoded."""

    routing_key: str
    body: bytes
    content_type: str
    headers: dict[str, Any] = field(default_factory=dict)


class Listener:
    """A temporary exclusive, auto-delete queue bound to ``tchu_events`` with ``pattern``.

    Example:
        >>> with Listener("amqp://guest:guest@localhost//", "user.*") as listener:
        ...     for delivery in listener.deliveries(stop=lambda: False):
        ...         print(delivery.routing_key)
    """

    def __init__(self, broker_url: str, pattern: str, *, connect_timeout: float = 5.0) -> None:
        self.pattern = compile_pattern(pattern).pattern
        self.broker_url = broker_url
        self.queue_name = f"{LISTEN_QUEUE_PREFIX}{uuid.uuid4().hex[:12]}"
        self.connect_timeout = connect_timeout
        self._conn: Any = None
        self._buffer: deque[Delivery] = deque()
        self._consumer: Any = None

    def __enter__(self) -> Self:
        self._conn = connect(self.broker_url, timeout=self.connect_timeout)
        try:
            channel = self._conn.channel()
            queue = Queue(
                self.queue_name,
                exchange=events_exchange(),
                routing_key=self.pattern,
                durable=False,
                exclusive=True,
                auto_delete=True,
            )
            queue(channel).declare()  # the exchange (as tchu declares it), the queue and its binding
            self._consumer = Consumer(channel, queues=[queue], no_ack=True, on_message=self._received)
            self._consumer.consume()
        except BROKER_ERRORS as exc:
            self._conn.release()
            raise BrokerError(f"the broker refused the listening queue: {describe(exc)}") from exc
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with suppress(*BROKER_ERRORS):
            self._conn.release()  # the exclusive queue goes with the connection

    def _received(self, message: Any) -> None:
        info = message.delivery_info or {}
        body = message.body
        self._buffer.append(
            Delivery(
                routing_key=str(info.get("routing_key") or ""),
                body=body if isinstance(body, bytes) else str(body).encode(),
                content_type=str(message.content_type or ""),
                headers=dict(message.headers or {}),
            )
        )

    def deliveries(self, *, stop: Callable[[], bool], tick: float = 0.2) -> Iterator[Delivery]:
        """Yield deliveries as they arrive until ``stop()`` is true (asked at least every ``tick`` seconds).

        Raises:
            BrokerError: the connection to the broker was lost.
        """
        while not stop():
            if not self._buffer:
                try:
                    self._conn.drain_events(timeout=tick)
                except TimeoutError:
                    continue
                except BROKER_ERRORS as exc:
                    raise BrokerError(f"lost the connection to the broker: {describe(exc)}") from exc
            while self._buffer and not stop():
                yield self._buffer.popleft()
