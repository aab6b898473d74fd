"""What tchu tells the outside about its events: metrics and traces, beside the log lines of each module.

**Logs** go through the standard library (tchu adds no handlers): ``tchu.publish`` logs every publish at DEBUG,
``tchu.dispatch`` every handler run at DEBUG and every failure at WARNING (retried) or ERROR (final), each with
``routing_key``, ``event_id``, ``correlation_id`` and, for handlers, ``handler`` in the record's ``extra``.

**Metrics** are off until :func:`enable_prometheus` (needs ``prometheus-client``: ``pip install
"tchu[prometheus]"``) registers, in the given registry or the default one:

* ``tchu_events_published_total{routing_key}``
* ``tchu_events_delivered_total{routing_key,handler}`` (a handler completed an event)
* ``tchu_events_failed_total{routing_key,handler}`` (a handler raised; retried or final)
* ``tchu_events_dead_lettered_total{routing_key,reason}`` (``reason`` is the kind: ``validation``, ``handler``,
  ``no handler``, ``decode``, ``signature``, ``refused``)
* ``tchu_handler_duration_seconds{routing_key,handler}`` (a histogram of handler run times)

**Traces** follow OpenTelemetry when ``opentelemetry-api`` is installed: a publish is a ``PRODUCER`` span named
``<routing key> publish`` whose W3C ``traceparent`` (and ``tracestate``) travel in the message headers; each
handler run is a ``CONSUMER`` span named ``<routing key> process`` whose parent is the publisher's span, even
across services and processes. Without an SDK configured (no tracer provider set) no span is made, but the trace
context still travels: a handler runs in its publisher's trace and the events it publishes carry it on. Without
OpenTelemetry installed tchu neither imports nor sends anything for them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from tchu.envelope import HEADER_TRACEPARENT, HEADER_TRACESTATE, Envelope
from tchu.errors import SetupError

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
    from opentelemetry.trace import ProxyTracerProvider, SpanKind, Status, StatusCode

    TRACING = True
except ImportError:  # tracing is optional
    TRACING = False

__all__ = ["Metrics", "PrometheusMetrics", "disable_metrics", "enable_prometheus", "metrics"]

T = TypeVar("T")
PROMETHEUS_HINT = 'metrics need prometheus-client: pip install "tchu[prometheus]"'
SYSTEM = "rabbitmq"
EXCHANGE = "tchu_events"


class Metrics(Protocol):
    """What tchu reports about events; :class:`PrometheusMetrics` is one implementation."""

    def published(self, routing_key: str) -> None:
        """An event was published (the broker confirmed it, with confirms on)."""

    def handled(self, routing_key: str, handler: str, seconds: float) -> None:
        """A handler completed an event in ``seconds``."""

    def failed(self, routing_key: str, handler: str, seconds: float) -> None:
        """A handler raised after ``seconds``."""

    def dead_lettered(self, routing_key: str, reason: str) -> None:
        """An event went to a dead-letter queue; ``reason`` is the kind (``validation``, ``handler``, ...)."""


class _NoMetrics:
    def published(self, routing_key: str) -> None:
        pass

    def handled(self, routing_key: str, handler: str, seconds: float) -> None:
        pass

    def failed(self, routing_key: str, handler: str, seconds: float) -> None:
        pass

    def dead_lettered(self, routing_key: str, reason: str) -> None:
        pass


class PrometheusMetrics:
    """tchu's counters and handler-duration histogram in a Prometheus registry (the default one unless given)."""

    def __init__(self, registry: Any = None) -> None:
        try:
            from prometheus_client import REGISTRY, Counter, Histogram  # noqa: PLC0415 -- an optional extra
        except ImportError as exc:
            raise SetupError(PROMETHEUS_HINT) from exc
        registry = REGISTRY if registry is None else registry
        key, handler = ["routing_key"], ["routing_key", "handler"]
        self.published_total = Counter(
            "tchu_events_published", "Events published to tchu_events.", key, registry=registry
        )
        self.delivered_total = Counter(
            "tchu_events_delivered", "Events a handler completed.", handler, registry=registry
        )
        self.failed_total = Counter("tchu_events_failed", "Handler runs that raised.", handler, registry=registry)
        self.dead_lettered_total = Counter(
            "tchu_events_dead_lettered",
            "Events copied to a dead-letter queue, by kind of reason.",
            ["routing_key", "reason"],
            registry=registry,
        )
        self.handler_seconds = Histogram(
            "tchu_handler_duration_seconds", "How long handlers ran.", handler, registry=registry
        )

    def published(self, routing_key: str) -> None:
        """Count a publish."""
        self.published_total.labels(routing_key).inc()

    def handled(self, routing_key: str, handler: str, seconds: float) -> None:
        """Count a completed handler run and its duration."""
        self.delivered_total.labels(routing_key, handler).inc()
        self.handler_seconds.labels(routing_key, handler).observe(seconds)

    def failed(self, routing_key: str, handler: str, seconds: float) -> None:
        """Count a failed handler run and its duration."""
        self.failed_total.labels(routing_key, handler).inc()
        self.handler_seconds.labels(routing_key, handler).observe(seconds)

    def dead_lettered(self, routing_key: str, reason: str) -> None:
        """Count a dead-lettered event."""
        self.dead_lettered_total.labels(routing_key, reason).inc()


_NONE = _NoMetrics()
_current: list[Metrics] = [_NONE]


def metrics() -> Metrics:
    """Where this process reports events: a no-op unless :func:`enable_prometheus` (or your own) was installed."""
    return _current[0]


def enable_prometheus(registry: Any = None) -> PrometheusMetrics:
    """Report tchu's metrics to Prometheus from now on; returns the metrics (their collectors are attributes).

    Raises:
        SetupError: ``prometheus-client`` is not installed (the message says how to install it).
    """
    installed = PrometheusMetrics(registry)
    _current[0] = installed
    return installed


def install_metrics(instance: Metrics) -> None:
    """Report tchu's metrics to ``instance`` (any object with the :class:`Metrics` methods)."""
    _current[0] = instance


def disable_metrics() -> None:
    """Stop reporting metrics (the collectors stay registered where they were)."""
    _current[0] = _NONE


def reason_kind(reason: str) -> str:
    """The kind of a dead-letter reason: ``"validation: $.x ..."`` -> ``"validation"``."""
    return reason.split(":", 1)[0].strip() or "unknown"


_tracers: list[Any] = []  # tchu's tracer, once a provider is set (OpenTelemetry sets the global provider once)


def _tracer() -> Any:
    """tchu's tracer when an SDK (any tracer provider) is configured; None otherwise, so no span is made."""
    if _tracers:
        return _tracers[0]
    if not TRACING or isinstance(trace.get_tracer_provider(), ProxyTracerProvider):
        return None
    _tracers.append(trace.get_tracer("tchu"))
    return _tracers[0]


def traced_send(envelope: Envelope, send: Callable[[Envelope], T]) -> T:
    """``send(envelope)`` inside a ``PRODUCER`` span, the envelope carrying the span's ``traceparent``.

    Without a tracer provider no span is made (and no context manager entered), but a trace this process
    continues still travels on.
    """
    tracer = _tracer()
    if tracer is None:
        return send(with_trace_context(envelope))
    attributes = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "send",
        "messaging.destination.name": EXCHANGE,
        "messaging.rabbitmq.destination.routing_key": envelope.routing_key,
        "messaging.message.id": envelope.event_id,
        "messaging.message.conversation_id": envelope.correlation_id,
    }
    with tracer.start_as_current_span(f"{envelope.routing_key} publish", kind=SpanKind.PRODUCER, attributes=attributes):
        return send(with_trace_context(envelope))


def with_trace_context(envelope: Envelope) -> Envelope:
    """``envelope`` carrying the current trace context (unchanged when there is none or no OpenTelemetry)."""
    if not TRACING or not trace.get_current_span().get_span_context().is_valid:  # no trace to carry on
        return envelope
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if HEADER_TRACEPARENT not in carrier:
        return envelope
    return dataclasses.replace(
        envelope, traceparent=carrier[HEADER_TRACEPARENT], tracestate=carrier.get(HEADER_TRACESTATE)
    )


@contextmanager
def handle_span(envelope: Envelope, handler: str) -> Iterator[Any]:
    """A ``CONSUMER`` span for one handler run, child of the publisher's span; yields it (None without tracing)."""
    if not TRACING:
        yield None
        return
    carrier = {HEADER_TRACEPARENT: envelope.traceparent or "", HEADER_TRACESTATE: envelope.tracestate or ""}
    parent = propagate.extract({k: v for k, v in carrier.items() if v})
    tracer = _tracer()
    if tracer is None:  # no SDK: no span, but the handler runs in the publisher's trace, so its publishes carry it
        token = otel_context.attach(parent)
        try:
            yield None
        finally:
            otel_context.detach(token)
        return
    attributes = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "process",
        "messaging.destination.name": EXCHANGE,
        "messaging.rabbitmq.destination.routing_key": envelope.routing_key,
        "messaging.message.id": envelope.event_id,
        "messaging.message.conversation_id": envelope.correlation_id,
        "tchu.handler": handler,
    }
    name = f"{envelope.routing_key} process"
    with tracer.start_as_current_span(name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes) as span:
        yield span


def span_failed(span: Any, exc: BaseException) -> None:
    """Mark a handler span as failed with ``exc`` (the dispatcher catches handler errors, so spans must be told)."""
    if span is None:
        return
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
