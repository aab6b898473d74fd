"""What a running handler can ask about the event it is handling."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class EventInfo:
    """The delivered event's metadata: ids, key, publish time (ISO 8601, UTC) and schema version."""

    routing_key: str
    event_id: str
    correlation_id: str
    published_at: str
    schema_version: int | None
    handler: str = ""
    redelivered: bool = False
    attempt: int = 1  # the run of this handler for this event: above 1 on a retry
    headers: Mapping[str, Any] = field(default_factory=dict)


_current: ContextVar[EventInfo | None] = ContextVar("tchu_current_event", default=None)


def current_event() -> EventInfo:
    """The event the calling handler is handling.

    Events published from inside a handler carry its correlation id, so a chain of events can be followed.

    Raises:
        LookupError: when called outside a handler.

    Example:
        >>> @subscribe("user.created")
        ... def on_created(data):
        ...     log.info("user %s in event %s", data["user_id"], current_event().event_id)
    """
    info = _current.get()
    if info is None:
        raise LookupError("current_event() is only available while a tchu handler runs")
    return info


def current_event_or_none() -> EventInfo | None:
    """Like :func:`current_event`, but ``None`` outside a handler."""
    return _current.get()


@contextmanager
def handling(info: EventInfo, handler: str) -> Iterator[EventInfo]:
    """Make ``info`` (for ``handler``) the current event inside the block."""
    scoped = EventInfo(  # not dataclasses.replace: this runs for every handler of every event
        info.routing_key,
        info.event_id,
        info.correlation_id,
        info.published_at,
        info.schema_version,
        handler,
        info.redelivered,
        info.attempt,
        info.headers,
    )
    token = _current.set(scoped)
    try:
        yield scoped
    finally:
        _current.reset(token)
