"""Remember which handler finished which event, so a redelivery does not repeat finished work.

Delivery is at least once: a worker lost after some handlers finished gets the event again. With a guard, the
dispatcher skips each handler that already completed that event id and runs only the others. A guard that
cannot be reached never stops an event: the handler runs (a duplicate is better than a loss) and a warning says
so.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

logger = logging.getLogger("tchu.idempotency")

DEFAULT_TTL = 7 * 24 * 3600  # seconds a completion is remembered: longer than any redelivery takes


class IdempotencyGuard(Protocol):
    """Where completions are recorded."""

    def completed(self, handler_id: str, event_id: str) -> bool:
        """Whether ``handler_id`` already completed ``event_id``."""

    def mark_completed(self, handler_id: str, event_id: str) -> None:
        """Record that ``handler_id`` completed ``event_id``."""


class MemoryIdempotency:
    """Completions in this process's memory: for tests and single-process use."""

    def __init__(self) -> None:
        self._done: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def completed(self, handler_id: str, event_id: str) -> bool:
        """Whether ``handler_id`` already completed ``event_id`` in this process."""
        with self._lock:
            return (handler_id, event_id) in self._done

    def mark_completed(self, handler_id: str, event_id: str) -> None:
        """Record the completion in memory."""
        with self._lock:
            self._done.add((handler_id, event_id))


class RedisIdempotency:
    """Completions in Redis, shared by every worker of a service, each kept ``ttl`` seconds.

    Example:
        >>> guard = RedisIdempotency("redis://localhost:6379/0")
        >>> setup_service(app, "billing", handlers=["billing.subscribers"], idempotency=guard)
    """

    def __init__(self, url_or_client: Any, *, ttl: int = DEFAULT_TTL, prefix: str = "tchu:done:") -> None:
        import redis  # noqa: PLC0415 -- only services that use the guard need a Redis connection

        self.client = redis.Redis.from_url(url_or_client) if isinstance(url_or_client, str) else url_or_client
        self.ttl = ttl
        self.prefix = prefix
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)

    def _key(self, handler_id: str, event_id: str) -> str:
        return f"{self.prefix}{handler_id}:{event_id}"

    def completed(self, handler_id: str, event_id: str) -> bool:
        """Whether ``handler_id`` completed ``event_id``; ``False`` (and a warning) when Redis cannot say."""
        try:
            return bool(self.client.exists(self._key(handler_id, event_id)))
        except self._errors as exc:
            logger.warning("idempotency check for %s/%s failed, running the handler: %s", handler_id, event_id, exc)
            return False

    def mark_completed(self, handler_id: str, event_id: str) -> None:
        """Record the completion; a failure only costs a possible duplicate run later (a warning says so)."""
        try:
            self.client.set(self._key(handler_id, event_id), 1, ex=self.ttl)
        except self._errors as exc:
            logger.warning("could not record that %s completed %s: %s", handler_id, event_id, exc)
