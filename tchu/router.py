"""Subscriptions and RPC responders, owned by a :class:`Router` instance.

The module-level :func:`subscribe` and :func:`respond` register on :data:`default_router`, as tchu-tchu's
global decorators did; tests and libraries can build their own ``Router`` instead of clearing a global.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tchu.errors import InvalidPatternError, SetupError
from tchu.retry import RetryPolicy, retry_policy
from tchu.topics import TopicPattern, compile_pattern, validate_routing_key

F = TypeVar("F", bound=Callable[..., Any])
MAX_CACHED_KEYS = 10_000

__all__ = ["Responder", "Router", "Subscription", "default_router", "respond", "subscribe"]


@dataclass(frozen=True, slots=True)
class Subscription:
    """One handler subscribed to one pattern."""

    pattern: TopicPattern
    handler: Callable[..., Any]
    handler_id: str
    name: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    retry: RetryPolicy | None = None


@dataclass(frozen=True, slots=True)
class Responder:
    """The single handler that answers RPC calls for one routing key in this service."""

    routing_key: str
    handler: Callable[..., Any]
    handler_id: str


def default_handler_id(func: Callable[..., Any]) -> str:
    """``module.qualname`` of ``func``: the id a handler is registered (and de-duplicated) under."""
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


class Router:
    """A set of subscriptions and responders; thread-safe, matched with RabbitMQ's topic semantics."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._responders: dict[str, Responder] = {}
        self._cache: dict[str, tuple[Subscription, ...]] = {}
        self._lock = threading.Lock()

    def subscribe(
        self,
        routing_key: str,
        *,
        name: str | None = None,
        handler_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        retry: RetryPolicy | int | None = None,
        autoretry_for: tuple[type[BaseException], ...] | None = None,
        max_retries: int | None = None,
        retry_backoff: bool | float | None = None,
        retry_backoff_max: float | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated function for events whose key matches the pattern ``routing_key``.

        ``retry`` (a :class:`~tchu.retry.RetryPolicy` or a number of retries), or Celery's ``autoretry_for``,
        ``max_retries``, ``retry_backoff`` and ``retry_backoff_max``, make a failure of this handler run it again
        later, alone; without them a failure is dead-lettered at once.

        The pattern is checked now: ``user*`` or ``user..created`` raise :class:`InvalidPatternError` saying
        the fix. Registering the same function (or the same ``handler_id``) for the same pattern again keeps a
        single registration, so a module imported twice does not run its handlers twice.

        Example:
            >>> router = Router()
            >>> @router.subscribe("user.*")
            ... def on_user_event(data): ...
        """
        pattern = compile_pattern(routing_key)
        policy = retry_policy(
            retry,
            autoretry_for=autoretry_for,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            retry_backoff_max=retry_backoff_max,
        )

        def decorator(func: F) -> F:
            self.add(pattern, func, name=name, handler_id=handler_id, metadata=metadata, retry=policy)
            return func

        return decorator

    def add(
        self,
        pattern: TopicPattern | str,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        handler_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Subscription:
        """The non-decorator form of :meth:`subscribe`; returns the registration in effect."""
        if isinstance(pattern, str):
            pattern = compile_pattern(pattern)
        if not callable(func):
            raise SetupError(f"handler for {pattern.pattern!r} must be callable, got {func!r}")
        hid = handler_id or default_handler_id(func)
        label = name or str(getattr(func, "__name__", hid))
        sub = Subscription(pattern, func, hid, label, dict(metadata or {}), retry)
        with self._lock:
            for i, old in enumerate(self._subs):
                if old.pattern == pattern and (old.handler_id == hid or old.handler is func):
                    self._subs[i] = sub  # a re-import replaces, never duplicates
                    break
            else:
                self._subs.append(sub)
            self._cache.clear()
        return sub

    def respond(self, routing_key: str, *, handler_id: str | None = None) -> Callable[[F], F]:
        """Register the decorated function as this service's single RPC responder for ``routing_key``.

        Raises:
            InvalidPatternError: ``routing_key`` contains a wildcard (a call names one key).
            SetupError: another function already responds to ``routing_key`` here.
        """
        try:
            validate_routing_key(routing_key)
        except ValueError as exc:
            raise InvalidPatternError(f"RPC responders answer one concrete key: {exc}") from exc

        def decorator(func: F) -> F:
            hid = handler_id or default_handler_id(func)
            with self._lock:
                old = self._responders.get(routing_key)
                if old is not None and old.handler is not func and old.handler_id != hid:
                    raise SetupError(
                        f"{old.handler_id} already responds to {routing_key!r}; a call must have exactly one "
                        f"responder, so {hid} cannot respond too"
                    )
                self._responders[routing_key] = Responder(routing_key, func, hid)
            return func

        return decorator

    def include_router(self, other: Router) -> None:
        """Add every subscription and responder of ``other`` to this router."""
        self._take(other.subscriptions(), other.responders())

    def _take(self, subs: Iterable[Subscription], responders: Iterable[Responder]) -> None:
        for sub in subs:
            self.add(
                sub.pattern,
                sub.handler,
                name=sub.name,
                handler_id=sub.handler_id,
                metadata=sub.metadata,
                retry=sub.retry,
            )
        for resp in responders:
            self.respond(resp.routing_key, handler_id=resp.handler_id)(resp.handler)

    def handlers_for(self, routing_key: str) -> tuple[Subscription, ...]:
        """The subscriptions whose pattern matches ``routing_key``, in registration order, one per handler id."""
        found = self._cache.get(routing_key)
        if found is None:
            with self._lock:
                ids: set[str] = set()
                matched = []
                for sub in self._subs:  # a handler subscribed to overlapping patterns runs once per event
                    if sub.pattern.matches(routing_key) and sub.handler_id not in ids:
                        ids.add(sub.handler_id)
                        matched.append(sub)
                found = tuple(matched)
                if len(self._cache) >= MAX_CACHED_KEYS:
                    self._cache.clear()  # keys such as 'user.123.updated' must not grow memory without bound
                self._cache[routing_key] = found
        return found

    def responder_for(self, routing_key: str) -> Responder | None:
        """This service's responder for ``routing_key``, if it has one."""
        return self._responders.get(routing_key)

    def subscriptions(self) -> tuple[Subscription, ...]:
        """Every subscription, in registration order."""
        with self._lock:
            return tuple(self._subs)

    def responders(self) -> tuple[Responder, ...]:
        """Every RPC responder, sorted by routing key."""
        with self._lock:
            return tuple(self._responders[k] for k in sorted(self._responders))

    def patterns(self) -> list[str]:
        """The distinct patterns of all subscriptions, sorted: exactly the bindings this service needs."""
        with self._lock:
            return sorted({s.pattern.pattern for s in self._subs})

    def of_modules(self, modules: Iterable[str]) -> Router:
        """A new router with the subscriptions and responders of this one whose handlers are defined in
        ``modules`` (dotted names; a handler's id is ``module.qualname``): one service's share of a process that
        imported the handlers of several, as the in-memory broker runs them."""
        prefixes = tuple(f"{module}." for module in modules)
        out = Router()
        out._take(
            (sub for sub in self.subscriptions() if sub.handler_id.startswith(prefixes)),
            (resp for resp in self.responders() if resp.handler_id.startswith(prefixes)),
        )
        return out

    def clear(self) -> None:
        """Forget every subscription and responder."""
        with self._lock:
            self._subs.clear()
            self._responders.clear()
            self._cache.clear()


def patterns_of(routers: Iterable[Router]) -> list[str]:
    """The sorted union of the patterns of several routers."""
    return sorted({p for r in routers for p in r.patterns()})


default_router = Router()


#: Register a handler on :data:`default_router`: ``@subscribe("user.created")``; see :meth:`Router.subscribe`.
subscribe = default_router.subscribe

#: Register the RPC responder on :data:`default_router`: ``@respond("order.calculate_total")``; its return
#: value (JSON data or a Pydantic model) is the caller's result. See :meth:`Router.respond`.
respond = default_router.respond
