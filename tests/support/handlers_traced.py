"""A handler that records the trace it runs in, for the trace-propagation test."""

from opentelemetry import trace
from recorder import record

from tchu import subscribe


@subscribe("trace.#")
def traced(event):
    context = trace.get_current_span().get_span_context()
    record("traced", event, trace_id=format(context.trace_id, "032x"), span_id=format(context.span_id, "016x"))
