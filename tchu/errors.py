"""Every error tchu raises, rooted at :class:`TchuError`.

Leaves also subclass the builtin they mean, so ``except ValueError`` or ``except TimeoutError`` work as a
reader expects::

    TchuError
    ├── InvalidRoutingKeyError (ValueError)    a routing key that cannot be published
    ├── InvalidPatternError (ValueError)       a subscription pattern RabbitMQ would not mean as written
    ├── PayloadError (ValueError)              a payload that cannot be encoded as a JSON object
    │   └── PayloadValidationError             a payload that does not match its catalog schema
    ├── MessageDecodeError (ValueError)        a delivered message that is not a tchu event
    ├── SetupError (ValueError)                a service, responder or dispatcher configured wrongly
    ├── PublishError (ConnectionError)         the broker did not take the event
    │   ├── BatchPublishError                  part of a batch was not confirmed; names those events
    │   └── UnroutableError                    no queue is bound to the event's routing key
    ├── HandlerError                           one or more handlers failed for an event
    ├── NoHandlerError (LookupError)           an event reached a service with no matching handler
    └── RPCError
        ├── NoResponderError (LookupError)     no service responds to the routing key
        ├── RemoteError                        the responder raised; carries its type and message
        └── RPCTimeoutError (TimeoutError)     no reply within the timeout
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class TchuError(Exception):
    """Root of every error tchu raises."""


class InvalidRoutingKeyError(TchuError, ValueError):
    """A routing key that cannot be published: empty, too long, empty words or wildcards."""


class InvalidPatternError(TchuError, ValueError):
    """A subscription pattern that RabbitMQ would not read the way it is written."""


class PayloadError(TchuError, ValueError):
    """A payload that cannot be encoded as a JSON object."""


@dataclass(frozen=True)
class FieldProblem:
    """One failing field: a JSON path such as ``$.items[0].quantity`` and what is wrong with it."""

    path: str
    message: str


class PayloadValidationError(PayloadError):
    """A payload that does not match its routing key's schema.

    Attributes:
        routing_key: the event's routing key.
        schema_id: the ``$id`` (or source file) of the schema it was checked against.
        problems: every failing field, in document order.
    """

    def __init__(self, routing_key: str, schema_id: str, problems: Sequence[FieldProblem]) -> None:
        self.routing_key = routing_key
        self.schema_id = schema_id
        self.problems = tuple(problems)
        lines = [f"payload for {routing_key!r} does not match {schema_id}:"]
        lines += [f"  {p.path}: {p.message}" for p in self.problems]
        super().__init__("\n".join(lines))

    def errors(self) -> list[tuple[str, str]]:
        """The ``(json path, message)`` pairs, for logs and API responses."""
        return [(p.path, p.message) for p in self.problems]


class MessageDecodeError(TchuError, ValueError):
    """A delivered message that is not a tchu event. Keeps the raw body for the dead-letter entry."""

    def __init__(self, reason: str, raw: bytes | str | None = None) -> None:
        self.reason = reason
        self.raw = raw
        super().__init__(reason)


class SetupError(TchuError, ValueError):
    """A service, dispatcher or responder configured in a way that cannot work."""


class PublishError(TchuError, ConnectionError):
    """The broker did not take the event: unreachable, a negative confirm, no confirm in time, or a refusal."""


class BatchPublishError(PublishError):
    """Part of a batch was not confirmed; ``unconfirmed`` lists those event ids (the rest reached the broker)."""

    def __init__(self, message: str, unconfirmed: list[str]) -> None:
        super().__init__(message)
        self.unconfirmed = unconfirmed


class UnroutableError(PublishError):
    """No queue is bound to the event's routing key, so no service received it."""


@dataclass(frozen=True)
class HandlerFailure:
    """One handler's failure for one event."""

    handler: str
    error_type: str
    message: str
    retry_in: float | None = None  # seconds until this handler runs again; None when the failure is final


class HandlerError(TchuError):
    """One or more handlers failed for an event; the others still ran."""

    def __init__(self, routing_key: str, event_id: str, failures: Sequence[HandlerFailure]) -> None:
        self.routing_key = routing_key
        self.event_id = event_id
        self.failures = tuple(failures)
        self.retrying = tuple(f for f in self.failures if f.retry_in is not None)
        self.final = tuple(f for f in self.failures if f.retry_in is None)
        parts = "; ".join(f"{f.handler}: {f.error_type}: {f.message}" for f in self.failures)
        super().__init__(f"{len(self.failures)} handler(s) failed for {routing_key!r} (event {event_id}): {parts}")


class NoHandlerError(TchuError, LookupError):
    """An event reached a service whose router has no handler matching its routing key."""

    def __init__(self, routing_key: str, event_id: str) -> None:
        self.routing_key = routing_key
        self.event_id = event_id
        super().__init__(
            f"no handler matches {routing_key!r} (event {event_id}); the queue is bound to a pattern "
            "no handler subscribes to: remove the binding or add a handler"
        )


class RPCError(TchuError):
    """Root of the errors of :meth:`tchu.TchuClient.call`."""


class NoResponderError(RPCError, LookupError):
    """No running service responds to the routing key, so the call fails at once instead of waiting."""


class RemoteError(RPCError):
    """The responder raised. ``remote_type`` and ``remote_message`` say what it raised."""

    def __init__(self, routing_key: str, remote_type: str, remote_message: str) -> None:
        self.routing_key = routing_key
        self.remote_type = remote_type
        self.remote_message = remote_message
        # args are the constructor's arguments, so Celery's result backends can rebuild the error
        super().__init__(routing_key, remote_type, remote_message)

    def __str__(self) -> str:
        return f"responder for {self.routing_key!r} raised {self.remote_type}: {self.remote_message}"


class RPCTimeoutError(RPCError, TimeoutError):
    """No reply arrived within the call's timeout. Catch it as the builtin ``TimeoutError``."""
