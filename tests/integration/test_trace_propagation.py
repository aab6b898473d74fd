"""Trace context crosses RabbitMQ: a real worker's handler runs in the trace of the publish that sent its event."""

from __future__ import annotations

import pytest
from helpers import wait_seen
from opentelemetry.trace import SpanKind

pytestmark = pytest.mark.integration


def test_the_worker_handles_the_event_inside_the_publishers_trace(broker, start_worker, client, span_exporter):
    start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "tracing", "TCHU_TEST_HANDLERS": "handlers_traced"})
    event_id = client.publish("trace.started", {"n": 1})
    (record,) = wait_seen(broker, 1, settle=0.5)
    (producer,) = [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.PRODUCER]
    assert producer.attributes["messaging.message.id"] == event_id
    assert record["trace_id"] == format(producer.context.trace_id, "032x")
    # the worker has no SDK configured: its span is not recorded, but it continues the publisher's trace
    assert record["span_id"] == format(producer.context.span_id, "016x")
