"""A copy of every event published to ``tchu_events`` on a real broker, for tests: see :mod:`tchu.testing`."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from amqp.exceptions import NotFound
from kombu.entity import Queue

from tchu._celery.common import BROKER_ERRORS, DLQ_SUFFIX, describe, events_exchange, new_app
from tchu._celery.dlq import dead_letters
from tchu._celery.transport import CeleryTransport
from tchu.envelope import Envelope, TaskMessage
from tchu.errors import MessageDecodeError, PublishError
from tchu.memory import DeadLetter, read_task_message

logger = logging.getLogger("tchu.testing")


class BrokerRecorder:
    """An exclusive queue bound with ``#`` to ``tchu_events``: it receives a copy of every event published.

    The queue lives as long as the recorder's connection (it is deleted by the broker when the connection
    closes). Events published with confirms are in it before ``publish`` returns, so :meth:`collect` right after
    a publish sees them.

    Raises:
        PublishError: the broker cannot be reached or refuses the queue.
    """

    def __init__(self, broker_url: str, *, result_backend: str | None = None) -> None:
        self.app = new_app("tchu-testing", broker_url, backend=result_backend)
        self.queue_name = f"tchu.testing.{uuid.uuid4().hex[:12]}"
        self._conn = self.app.connection_for_write()
        try:
            self._conn.ensure_connection(max_retries=2)
            self._channel = self._conn.channel()
            events_exchange().declare(channel=self._channel)
            queue = Queue(
                self.queue_name, events_exchange(), routing_key="#", exclusive=True, auto_delete=True, durable=False
            )
            queue(self._channel).declare()
        except BROKER_ERRORS as exc:
            self._conn.release()
            raise PublishError(f"cannot record events on {broker_url!r}: {describe(exc)}") from exc

    def collect(self) -> list[Envelope]:
        """The events published since the last call, in order; messages that are not tchu events are skipped."""
        found: list[Envelope] = []
        while True:
            message = self._channel.basic_get(self.queue_name, no_ack=True)
            if message is None:
                return found
            routing_key = str((message.delivery_info or {}).get("routing_key") or "")
            body = message.body.encode() if isinstance(message.body, str) else bytes(message.body)  # utf-8 is decoded
            task = TaskMessage(body=body, headers=dict(message.headers or {}), properties={})
            try:
                found.append(read_task_message(task, routing_key))
            except MessageDecodeError as exc:
                logger.warning("recorded a message on %r that is not a tchu event: %s", routing_key, exc)

    def dead_letters(self, service: str, queue: str | None = None) -> list[DeadLetter]:
        """The entries of the service's dead-letter queue (``<service>_queue.dlq``), left in the queue."""
        service_queue = queue or f"{service}_queue"
        channel = self._conn.channel()
        try:
            channel.queue_declare(service_queue + DLQ_SUFFIX, passive=True)
        except NotFound:
            return []
        finally:
            if channel.is_open:
                channel.close()
        return [
            DeadLetter(
                service=service,
                event_id=entry.event_id,
                routing_key=entry.routing_key,
                reason=entry.reason,
                handlers=entry.handlers,
                attempts=entry.attempts,
                dead_lettered_at=entry.dead_lettered_at,
                payload=entry.payload,
            )
            for entry in dead_letters(self.app, service_queue)
        ]

    def close(self) -> None:
        """Close the connection (the broker deletes the queue) and the app's pooled publishing connections."""
        try:
            self._conn.release()
        finally:
            CeleryTransport(self.app).close()
            self._close_backend()

    def _close_backend(self) -> None:
        backend: Any = self.app.backend
        client = getattr(backend, "client", None)
        pool = getattr(client, "connection_pool", None)
        if pool is not None:  # redis
            pool.disconnect()
        self.app.close()
