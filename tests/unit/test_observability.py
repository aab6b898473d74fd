"""Logs, Prometheus metrics and OpenTelemetry traces of publishes and handler runs (tchu.observability)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from doubles import RecordingTransport
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from tchu import Catalog, EventSchema, Router, TchuClient, observability
from tchu.envelope import HEADER_TRACEPARENT, Envelope
from tchu.errors import SetupError
from tchu.memory import MemoryBroker

KEY = "user.created"
SCHEMA = EventSchema(KEY, {"type": "object", "required": ["user_id"], "properties": {"user_id": {"type": "integer"}}})


@pytest.fixture
def registry() -> Iterator[CollectorRegistry]:
    registry = CollectorRegistry()
    observability.enable_prometheus(registry)
    try:
        yield registry
    finally:
        observability.disable_metrics()


def broker_with(handlers: dict[str, Any]) -> tuple[MemoryBroker, TchuClient]:
    router = Router()
    for handler_id, func in handlers.items():
        router.add("user.*", func, handler_id=handler_id)
    catalog = Catalog()
    catalog.register(SCHEMA)
    broker = MemoryBroker()
    broker.add_service("svc", router=router, catalog=catalog)
    return broker, TchuClient(transport=broker.transport(), catalog=catalog)


def fail(_: dict[str, Any]) -> None:
    raise ConnectionError("smtp down")


# --- logs --------------------------------------------------------------------------------------------------------


def test_a_publish_is_logged_at_debug_with_the_event_fields(caplog: pytest.LogCaptureFixture) -> None:
    client = TchuClient(transport=RecordingTransport())
    with caplog.at_level(logging.DEBUG, logger="tchu.publish"):
        event_id = client.publish(KEY, {"user_id": 1}, correlation_id="corr-9")
    (record,) = [r for r in caplog.records if r.name == "tchu.publish"]
    assert record.levelno == logging.DEBUG
    assert (record.routing_key, record.event_id, record.correlation_id) == (KEY, event_id, "corr-9")  # type: ignore[attr-defined]


def test_each_handler_run_and_failure_is_logged_with_the_handler(caplog: pytest.LogCaptureFixture) -> None:
    _, client = broker_with({"svc.ok": lambda _: None, "svc.broken": fail})
    with caplog.at_level(logging.DEBUG, logger="tchu.dispatch"):
        event_id = client.publish(KEY, {"user_id": 1})
    by_handler = {r.handler: r for r in caplog.records if r.name == "tchu.dispatch" and hasattr(r, "handler")}  # type: ignore[attr-defined]
    assert by_handler["svc.ok"].levelno == logging.DEBUG
    assert "handled user.created" in by_handler["svc.ok"].getMessage()
    assert by_handler["svc.broken"].levelno == logging.ERROR
    for record in by_handler.values():
        assert (record.routing_key, record.event_id, record.correlation_id) == (KEY, event_id, event_id)  # type: ignore[attr-defined]


# --- metrics -----------------------------------------------------------------------------------------------------


def test_prometheus_counts_publishes_deliveries_failures_dead_letters_and_times_handlers(
    registry: CollectorRegistry,
) -> None:
    _, client = broker_with({"svc.ok": lambda _: None, "svc.broken": fail})
    client.publish(KEY, {"user_id": 1})
    client.publish(KEY, {"user_id": 2})

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("tchu_events_published_total", routing_key=KEY) == 2
    assert value("tchu_events_delivered_total", routing_key=KEY, handler="svc.ok") == 2
    assert value("tchu_events_delivered_total", routing_key=KEY, handler="svc.broken") is None
    assert value("tchu_events_failed_total", routing_key=KEY, handler="svc.broken") == 2
    assert value("tchu_events_dead_lettered_total", routing_key=KEY, reason="handler") == 2
    assert value("tchu_handler_duration_seconds_count", routing_key=KEY, handler="svc.ok") == 2
    assert value("tchu_handler_duration_seconds_count", routing_key=KEY, handler="svc.broken") == 2


def test_a_batch_counts_every_event_once_it_is_sent(registry: CollectorRegistry) -> None:
    client = TchuClient(transport=RecordingTransport())
    client.publish_many([(KEY, {"user_id": n}) for n in range(3)])
    assert registry.get_sample_value("tchu_events_published_total", {"routing_key": KEY}) == 3


def test_no_metrics_are_reported_until_enabled() -> None:
    assert type(observability.metrics()).__name__ == "_NoMetrics"


def test_without_prometheus_client_enabling_metrics_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # an import of it raises ImportError
    with pytest.raises(SetupError, match=r'pip install "tchu\[prometheus\]"'):
        observability.enable_prometheus()


def test_dead_letter_reasons_are_counted_by_their_kind() -> None:
    assert observability.reason_kind("validation: $.x: fails minimum") == "validation"
    assert observability.reason_kind("no handler: nothing matches") == "no handler"
    assert observability.reason_kind("") == "unknown"


# --- traces ------------------------------------------------------------------------------------------------------


def spans_by_kind(exporter: InMemorySpanExporter) -> dict[SpanKind, list[Any]]:
    out: dict[SpanKind, list[Any]] = {}
    for span in exporter.get_finished_spans():
        out.setdefault(span.kind, []).append(span)
    return out


def test_the_handler_span_is_a_child_of_the_publish_span_through_the_message(
    span_exporter: InMemorySpanExporter,
) -> None:
    broker, client = broker_with({"svc.ok": lambda _: None})
    event_id = client.publish(KEY, {"user_id": 1})
    spans = spans_by_kind(span_exporter)
    (producer,) = spans[SpanKind.PRODUCER]
    (consumer,) = spans[SpanKind.CONSUMER]
    assert producer.name == "user.created publish"
    assert consumer.name == "user.created process"
    assert consumer.parent is not None
    assert consumer.parent.span_id == producer.context.span_id
    assert consumer.context.trace_id == producer.context.trace_id
    assert consumer.attributes["messaging.message.id"] == event_id
    assert consumer.attributes["tchu.handler"] == "svc.ok"
    (delivered,) = broker.published  # as decoded from the task message the services received
    assert delivered.traceparent is not None
    assert delivered.traceparent.split("-")[1] == format(producer.context.trace_id, "032x")


def test_a_failing_handler_marks_its_span_as_an_error(span_exporter: InMemorySpanExporter) -> None:
    _, client = broker_with({"svc.broken": fail})
    client.publish(KEY, {"user_id": 1})
    (consumer,) = spans_by_kind(span_exporter)[SpanKind.CONSUMER]
    assert consumer.status.status_code is StatusCode.ERROR
    assert "ConnectionError: smtp down" in (consumer.status.description or "")
    assert [event.name for event in consumer.events] == ["exception"]


def test_a_malformed_trace_header_is_ignored_and_the_event_still_decodes() -> None:
    headers = {"tchu_event_id": "evt", HEADER_TRACEPARENT: 12345, "tracestate": "x" * 600}
    env = Envelope.decode('{"user_id": 1}', KEY, headers, "evt")
    assert (env.traceparent, env.tracestate) == (None, None)


def test_without_opentelemetry_nothing_is_imported_or_sent() -> None:
    script = textwrap.dedent(
        """
        import json, sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "opentelemetry" or name.startswith("opentelemetry."):
                    raise ImportError("blocked")

        sys.meta_path.insert(0, Block())
        from tchu import TchuClient
        from tchu.memory import MemoryBroker

        broker = MemoryBroker()
        broker.add_service("svc")
        TchuClient(transport=broker.transport()).publish("user.created", {"user_id": 1})
        (env,) = broker.published
        headers = env.task_message(origin="").headers
        print(json.dumps({"loaded": "opentelemetry" in sys.modules, "traceparent": "traceparent" in headers}))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"loaded": False, "traceparent": False}


def test_without_an_sdk_no_span_is_made_but_the_trace_goes_on_to_the_events_a_handler_publishes() -> None:
    script = textwrap.dedent(
        """
        import dataclasses
        import json
        from tchu import Router, TchuClient
        from tchu.memory import MemoryBroker

        broker = MemoryBroker()
        router = Router()
        client = TchuClient(transport=broker.transport())
        router.add("user.created", lambda data: client.publish("mail.sent", {"to": 1}), handler_id="svc.mail")
        router.add("mail.sent", lambda data: None, handler_id="svc.log")
        broker.add_service("svc", router=router)
        parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        incoming = client.publisher.envelope("user.created", {"user_id": 1})
        broker.transport().send(dataclasses.replace(incoming, traceparent=parent))  # as from a traced service
        print(json.dumps([env.traceparent for env in broker.published]))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    first, follow_up = json.loads(out.stdout.strip().splitlines()[-1])
    assert first == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert follow_up is not None
    assert follow_up.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"  # the same trace, carried on
