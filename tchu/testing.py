"""Test support: the events a test published, handled in memory, or recorded on a real broker with one switch.

tchu registers a pytest plugin (``tchu``) whose fixture ``tchu_events`` gives each test an :class:`EventLog`:

- **In memory** (the default), every :class:`~tchu.TchuClient` of the process made without ``transport=``,
  whenever it was created (generated publishers, ``TchuEvent`` and :func:`tchu.serverless.connect` clients
  included), publishes to a
  :class:`~tchu.memory.MemoryBroker` instead of RabbitMQ. Publishing validates, wraps and signs exactly as in
  production; the broker routes with RabbitMQ's topic semantics to its services and runs their handlers before
  ``publish`` returns. It starts with one service, ``local``: :data:`tchu.default_router` with
  :data:`tchu.default_catalog`, so every handler the test process imported runs. RPC calls are answered by the
  ``@respond`` handlers of its services.
- **On a real broker** (``pytest --tchu-broker amqp://...`` or ``TCHU_TEST_BROKER=amqp://...``), clients publish
  to that broker as in production (``tchu.serverless.connect()`` without a URL too), and an exclusive queue
  bound with ``#`` to ``tchu_events`` records a copy of every event, so :meth:`EventLog.published` answers the
  same. Handlers do not run in the test process: they run in the services' own workers, if any are started.

Example:
    >>> def test_signup_announces_the_user(tchu_events):
    ...     signup("ada@example.com")
    ...     assert tchu_events.published("user.created", email="ada@example.com")

Outside pytest, :func:`recording` gives the same :class:`EventLog` in a ``with`` block. Importing this module does
not import pytest; the fixture is defined in a module that the plugin loads.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any, Literal, cast

from tchu.envelope import Envelope, to_json_value
from tchu.memory import DeadLetter, MemoryBroker, MemoryService
from tchu.topics import compile_pattern

if TYPE_CHECKING:
    from tchu._celery.recorder import BrokerRecorder

__all__ = ["BROKER_ENV", "RESULT_BACKEND_ENV", "EventLog", "Matches", "Published", "recording"]

#: pytest loads the fixture module only when this module is loaded as its plugin.
pytest_plugins = ["tchu._pytest_plugin"]

BROKER_ENV = "TCHU_TEST_BROKER"
RESULT_BACKEND_ENV = "TCHU_TEST_RESULT_BACKEND"
LOCAL_SERVICE = "local"
POLL_INTERVAL = 0.05  # seconds between looks at the recording queue in wait_for

logger = logging.getLogger("tchu.testing")
Mode = Literal["memory", "broker"]


@dataclass(frozen=True, slots=True)
class Published:
    """One published event as the services received it (read back from the message)."""

    routing_key: str
    payload: dict[str, Any]
    event_id: str
    correlation_id: str
    published_at: str
    schema_version: int | None
    envelope: Envelope = field(repr=False, compare=False)

    @classmethod
    def of(cls, envelope: Envelope) -> Published:
        """The record of ``envelope``."""
        return cls(
            envelope.routing_key,
            envelope.payload,
            envelope.event_id,
            envelope.correlation_id,
            envelope.published_at,
            envelope.schema_version,
            envelope,
        )


class Matches(list[Published]):
    """The published events that match a query; empty (and so false) when none does.

    An empty result's ``repr`` says what was asked and what was published, so a failed ``assert`` explains itself.
    """

    def __init__(self, found: Iterable[Published], query: str = "", published: Iterable[str] = ()) -> None:
        super().__init__(found)
        self.query = query
        self.published_keys = list(published)

    def __repr__(self) -> str:
        if self:
            return super().__repr__()
        return f"<no event matches {self.query}; published: {self.published_keys or 'nothing'}>"


def _contains(actual: Any, expected: Any) -> bool:
    """Whether ``actual`` holds ``expected``: objects by subset of keys, at any depth; other values by equality."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(k in actual and _contains(actual[k], v) for k, v in expected.items())
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    return bool(actual == expected)


class EventLog:
    """What a test published, and the services that handled it.

    ``mode`` is ``"memory"`` or ``"broker"``; ``runs_handlers`` is true in memory only. In memory, ``broker`` is the
    :class:`~tchu.memory.MemoryBroker` (its ``eager`` attribute, ``drain()`` and services are there to use).
    """

    def __init__(self, broker: MemoryBroker | None = None, recorder: BrokerRecorder | None = None) -> None:
        if (broker is None) == (recorder is None):
            raise ValueError("an EventLog records either a MemoryBroker or a real broker's events")
        self.broker = broker
        self.recorder = recorder
        self._recorded: list[Envelope] = []

    @property
    def mode(self) -> Mode:
        """``"memory"`` or ``"broker"``."""
        return "memory" if self.broker is not None else "broker"

    @property
    def runs_handlers(self) -> bool:
        """Whether handlers run in this process (in memory); on a real broker the services' workers run them."""
        return self.broker is not None

    def add_service(self, name: str, *, handlers: Iterable[str] = (), **options: Any) -> MemoryService | None:
        """Add an in-memory service (see :meth:`~tchu.memory.MemoryBroker.add_service` for ``options``).

        On a real broker the ``handlers`` modules are imported, as in memory, and ``None`` is returned: the
        service is whatever worker consumes its queue there.
        """
        handlers = tuple(handlers)
        if self.broker is None:
            for module in handlers:
                import_module(module)
            return None
        return self.broker.add_service(name, handlers=handlers, **options)

    def remove_service(self, name: str) -> None:
        """Remove an in-memory service (``"local"`` too, to test services one by one); nothing on a real broker."""
        if self.broker is not None:
            self.broker.remove_service(name)

    def events(self) -> list[Published]:
        """Every event published since the start (or :meth:`clear`), in order."""
        if self.broker is not None:
            return [Published.of(e) for e in self.broker.published]
        if self.recorder is not None:
            self._recorded += self.recorder.collect()
        return [Published.of(e) for e in self._recorded]

    def published(self, routing_key: str | None = None, /, **fields: Any) -> Matches:
        """The published events whose key matches ``routing_key`` (a key or a pattern such as ``user.*``) and
        whose payload holds ``fields`` (nested objects may be given in part; models and datetimes are compared as
        they are sent).

        Example:
            >>> assert tchu_events.published("user.created", user_id=1)
            >>> [event] = tchu_events.published("order.created", total={"currency": "EUR"})
        """
        events = self.events()
        pattern = compile_pattern(routing_key) if routing_key is not None else None
        expected = {name: to_json_value(f"expected value of {name!r}", value) for name, value in fields.items()}
        found = [
            e for e in events if (pattern is None or pattern.matches(e.routing_key)) and _contains(e.payload, expected)
        ]
        query = " ".join([routing_key or "any key", *(f"{k}={v!r}" for k, v in expected.items())])
        return Matches(found, query, [e.routing_key for e in events])

    def published_keys(self) -> list[str]:
        """The routing keys of the published events, in order, repeats included."""
        return [e.routing_key for e in self.events()]

    def wait_for(self, routing_key: str | None = None, /, timeout: float = 5.0, **fields: Any) -> Matches:
        """Like :meth:`published`, but on a real broker waits up to ``timeout`` seconds for a match (events that
        services' workers publish arrive later). In memory, delivery is done when ``publish`` returns (or at
        ``broker.drain()``), so this looks once."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.published(routing_key, **fields)
            if found or self.broker is not None or time.monotonic() >= deadline:
                return found
            time.sleep(POLL_INTERVAL)

    def dead_letters(self, service: str = LOCAL_SERVICE, *, queue: str | None = None) -> list[DeadLetter]:
        """The dead letters of ``service``: in memory, its list; on a real broker, the entries of its dead-letter
        queue (``<service>_queue.dlq``, or ``<queue>.dlq``), left where they are."""
        if self.broker is not None:
            return self.broker.dead_letters(service)
        return cast("BrokerRecorder", self.recorder).dead_letters(service, queue)

    def clear(self) -> None:
        """Forget what was published and dead-lettered so far (in memory); on a real broker, what was published."""
        if self.broker is not None:
            self.broker.clear()
        else:
            self.events()
            self._recorded.clear()


@contextmanager
def _patched(target: object, attributes: Mapping[str, Any]) -> Iterator[None]:
    """Set ``attributes`` of ``target`` for the block, then put back what ``target`` itself held (an attribute it
    inherited is removed again, so the inherited one shows through)."""
    own = vars(target)
    saved = {name: own[name] for name in attributes if name in own}  # the functions themselves, never bound
    try:
        for name, value in attributes.items():
            setattr(target, name, value)
        yield
    finally:
        for name in attributes:
            if name in saved:
                setattr(target, name, saved[name])
            else:
                delattr(target, name)


@contextmanager
def _in_memory(broker: MemoryBroker) -> Iterator[None]:
    """Route every broker transport (so every ``TchuClient`` made without ``transport=``, and every
    :func:`tchu.serverless.connect` client, before or during the block) to ``broker``, each with its own
    ``unroutable`` setting. A serverless client's calls are refused as in production."""
    from tchu._amqp import AmqpPublisher  # noqa: PLC0415 -- kombu only when a test asks for it
    from tchu._celery.transport import CeleryTransport  # noqa: PLC0415

    def send(transport: Any, envelope: Envelope) -> None:
        broker.transport(unroutable=transport.unroutable).send(envelope)

    def send_many(transport: Any, envelopes: list[Envelope]) -> None:
        broker.transport(unroutable=transport.unroutable).send_many(envelopes)

    def call(transport: Any, envelope: Envelope, timeout: float) -> Any:
        return broker.transport(unroutable=transport.unroutable).call(envelope, timeout)

    with _patched(AmqpPublisher, {"send": send, "send_many": send_many}), _patched(CeleryTransport, {"call": call}):
        yield


@contextmanager
def _on_app(app: Any, broker_url: str) -> Iterator[None]:
    """Make clients created without a Celery app publish with ``app`` (the switch's broker), and
    :func:`tchu.serverless.connect` without a URL publish to ``broker_url``."""
    from tchu import serverless  # noqa: PLC0415 -- kombu only when a test asks for it
    from tchu._celery import transport as module  # noqa: PLC0415

    def resolve_app(given: Any = None) -> Any:
        return given if given is not None else app

    def serverless_url(url: str | None = None) -> str:
        return url or broker_url

    with _patched(module, {"resolve_app": resolve_app}), _patched(serverless, {"broker_url": serverless_url}):
        yield


@contextmanager
def recording(
    broker_url: str | None = None, *, result_backend: str | None = None, eager: bool = True
) -> Iterator[EventLog]:
    """An :class:`EventLog` for the block: in memory without ``broker_url``, else on that broker.

    In memory, the broker starts with the service ``local`` (:data:`tchu.default_router` and
    :data:`tchu.default_catalog`) and ``eager`` delivery. On a real broker, clients created without a Celery app
    (``TchuClient()``, generated publishers without ``client=``, ``tchu.serverless.connect()`` without a URL)
    publish to ``broker_url``; a client of an app of your own publishes to that app's broker. ``result_backend``
    serves their RPC calls.
    """
    if broker_url is None:
        memory = MemoryBroker(eager=eager)
        memory.add_service(LOCAL_SERVICE)
        with _in_memory(memory):
            yield EventLog(broker=memory)
        return
    from tchu._celery.recorder import BrokerRecorder  # noqa: PLC0415 -- kombu only in this mode

    recorder = BrokerRecorder(broker_url, result_backend=result_backend)
    try:
        with _on_app(recorder.app, broker_url):
            yield EventLog(recorder=recorder)
    finally:
        recorder.close()


def pytest_addoption(parser: Any) -> None:
    """``--tchu-broker`` and ``--tchu-result-backend`` (see the module's description)."""
    group = parser.getgroup("tchu", "tchu events")
    group.addoption(
        "--tchu-broker",
        default=os.environ.get(BROKER_ENV) or None,
        help=f"run tchu_events tests against this AMQP broker instead of in memory (env {BROKER_ENV})",
    )
    group.addoption(
        "--tchu-result-backend",
        default=os.environ.get(RESULT_BACKEND_ENV) or None,
        help=f"result backend for RPC calls with --tchu-broker (env {RESULT_BACKEND_ENV})",
    )
