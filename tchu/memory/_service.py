"""One service of the in-memory broker, and the records of what happened to its deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tchu.dispatch import Delivery, Dispatcher
from tchu.envelope import TaskMessage
from tchu.router import Router
from tchu.topics import compile_pattern


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-lettered delivery: the event, why it failed, and for handler failures which handlers and runs."""

    service: str
    event_id: str
    routing_key: str
    reason: str
    handlers: tuple[str, ...]
    attempts: int
    dead_lettered_at: str
    payload: Any
    message: TaskMessage | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class RetryRecord:
    """A failed handler scheduled to run again: ``attempt`` is the coming run, ``delay`` its backoff in seconds."""

    service: str
    event_id: str
    routing_key: str
    handlers: tuple[str, ...]
    attempt: int
    delay: float


class MemoryService:
    """One service of a :class:`MemoryBroker`: its bindings, dispatcher and what happened to its deliveries.

    ``handled`` lists the successful deliveries, ``retries`` the scheduled retries and ``dead_letters`` what the
    service's dead-letter queue would hold.
    """

    def __init__(self, name: str, dispatcher: Dispatcher) -> None:
        self.name = name
        self.dispatcher = dispatcher
        self.handled: list[Delivery] = []
        self.retries: list[RetryRecord] = []
        self.dead_letters: list[DeadLetter] = []
        self._extra: set[str] = set()

    def __repr__(self) -> str:
        return f"MemoryService({self.name!r}, bindings={self.bindings()})"

    @property
    def router(self) -> Router:
        """The router whose subscriptions and responders the service runs."""
        return self.dispatcher.router

    def bindings(self) -> list[str]:
        """The patterns the service's queue is bound with: its handlers' patterns (read at every publish, as if the
        worker had just started), plus those given to :meth:`bind`."""
        return sorted(set(self.router.patterns()) | self._extra)

    def bind(self, pattern: str) -> None:
        """Bind the queue with a pattern no handler needs, as a manual configuration or a stale binding does.

        Raises:
            InvalidPatternError: ``pattern`` is not a pattern RabbitMQ reads as written.
        """
        self._extra.add(compile_pattern(pattern).pattern)

    def receives(self, routing_key: str) -> bool:
        """Whether an event published with ``routing_key`` reaches this service (one copy, however many match)."""
        return any(compile_pattern(p).matches(routing_key) for p in self.bindings())

    def clear(self) -> None:
        """Forget the recorded deliveries, retries and dead letters."""
        self.handled.clear()
        self.retries.clear()
        self.dead_letters.clear()
