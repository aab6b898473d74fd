"""The worker's message consumer: what Celery refuses on a tchu service queue is dead-lettered, not dropped.

Celery drops some messages before any task runs, with only a log line: a content type the app does not accept
(pickle, YAML, ...), a body that does not decode, a message that is not a task message, a task name the worker
does not know. On a tchu service queue (a message that came through ``tchu_events``, or straight to the service
queue from a retry queue or a replay) each of these is copied byte for byte, never deserialized, to
``<queue>.dlq`` with ``refused: <why>`` as its reason, confirmed, and then acked. When the copy fails the message
goes back to its queue after a pause, as for every other dead-letter copy. Messages on the worker's other queues
(ordinary Celery tasks of the same app) keep Celery's own handling.

:func:`~tchu.create_topic_dispatcher` (and so :func:`~tchu.setup_service`) makes this the app's
``worker_consumer`` unless the app already names a consumer class of its own.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.worker.consumer import Consumer

from tchu._celery.common import EXCHANGE_NAME, SETUP_ERRORS, describe
from tchu._celery.worker import REQUEUE_PAUSE, count_dead_letter, runtimes

logger = logging.getLogger("tchu.dispatch")


class TchuConsumer(Consumer):  # type: ignore[misc]  # Celery is untyped
    """Celery's consumer, dead-lettering the messages it refuses on the tchu service queue."""

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        """A body that does not decode with its content type."""
        if not self._dead_letter(message, f"undecodable body: {exc}"):
            super().on_decode_error(message, exc)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        """A message without the ``task`` header of a Celery task message."""
        if not self._dead_letter(message, "not a task message (no 'task' header)"):
            super().on_unknown_message(body, message)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        """A task message for a task this worker does not have."""
        task = (message.headers or {}).get("task")
        if not self._dead_letter(message, f"unknown task {str(task)[:200]!r}"):
            super().on_unknown_task(body, message, exc)

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        """A task message Celery will not run: a refused content type, a malformed protocol message."""
        if not self._dead_letter(message, str(exc)):
            super().on_invalid_task(body, message, exc)

    def _dead_letter(self, message: Any, why: str) -> bool:
        """Copy ``message`` to its service's dead-letter queue and ack it; False when it is not tchu's to handle."""
        runtime = runtimes.get(self.app)
        if runtime is None:
            return False
        delivery = message.delivery_info or {}
        exchange, routing_key = delivery.get("exchange") or "", str(delivery.get("routing_key") or "")
        queue_name = runtime.queue
        if exchange != EXCHANGE_NAME and not (exchange == "" and routing_key == queue_name):
            return False
        dlq, extra = runtime.dead_letter_target(routing_key, f"refused: {why}")
        try:
            runtime.transport.publish_message(
                message.body,
                exchange="",
                routing_key=dlq.name,
                headers={**(message.headers or {}), **extra},
                properties={},
                declare=[dlq],
                what=f"refused message to {dlq.name}",
                content_type=message.content_type or "application/octet-stream",
                content_encoding=message.content_encoding or "binary",
            )
        except SETUP_ERRORS as exc:
            logger.critical("could not copy a refused message to %s, requeued: %s", dlq.name, describe(exc))
            time.sleep(REQUEUE_PAUSE)  # no hot loop while the broker refuses the copy
            message.reject_log_error(logger, self.connection_errors, requeue=True)
            return True
        count_dead_letter(extra)
        logger.error("refused message on %s (routing key %r), dead-lettered: %s", queue_name, routing_key, why)
        message.ack_log_error(logger, self.connection_errors)
        return True
