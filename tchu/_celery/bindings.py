"""Compare a service queue's bindings on the broker with what its handlers need, and fix them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tchu._celery.broker import BrokerError, connect
from tchu._celery.common import BROKER_ERRORS, EXCHANGE_NAME, describe
from tchu._celery.service import Service
from tchu._management import ManagementAPI, vhost_of
from tchu.errors import SetupError
from tchu.router import Router, default_router

NOT_FOUND = 404  # AMQP reply code: no such queue


@dataclass(frozen=True)
class BindingDiff:
    """The patterns a service queue needs, the ones bound on the broker, and the difference."""

    queue: str
    vhost: str
    needed: tuple[str, ...]
    bound: tuple[str, ...]

    @property
    def missing(self) -> tuple[str, ...]:
        """Needed by a handler but not bound: matching events never reach the service."""
        return tuple(p for p in self.needed if p not in self.bound)

    @property
    def stale(self) -> tuple[str, ...]:
        """Bound but needed by no handler: matching events are dead-lettered as 'no handler'."""
        return tuple(p for p in self.bound if p not in self.needed)

    @property
    def in_sync(self) -> bool:
        """True when the bindings are exactly the handlers' patterns."""
        return not self.missing and not self.stale


def needed_patterns(service: str, handler_modules: Sequence[str], router: Router | None = None) -> list[str]:
    """Import the handler modules (as ``setup_service`` does) and return the patterns the service queue needs.

    Raises:
        SetupError: a module cannot be imported.
    """
    svc = Service(None, service, f"{service}_queue", router or default_router, tuple(handler_modules))
    return svc.patterns()


def _require_queue(conn: Any, queue: str, vhost: str) -> Any:
    """A channel on which ``queue`` is known to exist."""
    try:
        channel = conn.channel()
        channel.queue_declare(queue, passive=True)
    except BROKER_ERRORS as exc:
        if getattr(exc, "code", None) == NOT_FOUND:
            raise SetupError(
                f"queue {queue!r} does not exist in vhost {vhost!r}: start a worker of the service, which declares it"
            ) from exc
        raise BrokerError(f"cannot check queue {queue!r}: {describe(exc)}") from exc
    return channel


def compare(broker_url: str, queue: str, needed: Iterable[str], *, management_url: str | None = None) -> BindingDiff:
    """Read ``queue``'s bindings to ``tchu_events`` through the management API and compare them with ``needed``.

    Raises:
        BrokerError: the broker cannot be reached.
        SetupError: the queue does not exist.
        ManagementError: the management API cannot be asked.
    """
    vhost = vhost_of(broker_url)
    conn = connect(broker_url)
    try:
        _require_queue(conn, queue, vhost)
    finally:
        conn.release()
    api = ManagementAPI.for_broker(broker_url, management_url)
    found = api.queue_bindings(vhost, queue)
    bound = sorted({b.pattern for b in found if b.exchange == EXCHANGE_NAME})
    return BindingDiff(queue, vhost, tuple(sorted(set(needed))), tuple(bound))


def apply(broker_url: str, diff: BindingDiff) -> None:
    """Bind the missing patterns and unbind the stale ones of ``diff.queue``.

    Raises:
        BrokerError: the broker cannot be reached or refused a change.
        SetupError: the queue does not exist.
    """
    conn = connect(broker_url)
    try:
        channel = _require_queue(conn, diff.queue, diff.vhost)
        try:
            for pattern in diff.missing:
                channel.queue_bind(diff.queue, EXCHANGE_NAME, pattern)
            for pattern in diff.stale:
                channel.queue_unbind(diff.queue, EXCHANGE_NAME, pattern)
        except BROKER_ERRORS as exc:
            raise BrokerError(f"the broker refused a binding change of {diff.queue!r}: {describe(exc)}") from exc
    finally:
        conn.release()
