"""``tchu listen``: print the events published to ``tchu_events`` that match a pattern, as they arrive."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from rich.text import Text

from tchu._celery.listen import Delivery, Listener
from tchu.catalog import Catalog
from tchu.cli.output import CommandError, Output, broker_url, read_catalog, to_json
from tchu.envelope import CONTENT_TYPE, Envelope
from tchu.errors import MessageDecodeError, PayloadValidationError

CELERY_ID_HEADER = "id"
PROTOCOL_2_PARTS = 3  # Celery protocol 2 bodies: [args, kwargs, embed]
STYLES = {"valid": "green", "invalid": "bold red", "not in the catalog": "yellow", "undecodable": "bold red"}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("listen", help="print the events matching a pattern as they are published")
    parser.add_argument("pattern", help="a binding pattern: user.created, 'user.*', 'order.#', '#'")
    parser.add_argument("--schemas", type=Path, help="catalog folder (default: schemas, when it exists)")
    parser.add_argument("--count", type=int, help="stop after N events")
    parser.add_argument("--timeout", type=float, help="stop after S seconds (exit 1 if --count was not reached)")


@dataclass(frozen=True)
class Seen:
    """One delivery as the listener shows it."""

    routing_key: str
    status: str
    detail: str
    headers: dict[str, Any]
    payload: str


def shown_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """Celery's task id and every ``tchu_*`` header, in that order."""
    shown = {CELERY_ID_HEADER: headers[CELERY_ID_HEADER]} if CELERY_ID_HEADER in headers else {}
    shown.update({k: headers[k] for k in sorted(headers) if k.startswith("tchu_")})
    return shown


def decode(delivery: Delivery) -> Envelope:
    """The event a delivery carries, decoded as a service's dispatcher decodes it.

    Raises:
        MessageDecodeError: not a JSON task message, or not a tchu event.
    """
    if delivery.content_type != CONTENT_TYPE:
        kind = delivery.content_type or "no content type"
        raise MessageDecodeError(f"{len(delivery.body)} bytes of {kind}, not a JSON task message")
    try:
        body = json.loads(delivery.body)
    except ValueError as exc:
        raise MessageDecodeError(f"the body is not JSON: {exc}") from exc
    parts = _task_parts(body, delivery.headers)
    if parts is None:
        raise MessageDecodeError("the body is not a Celery task message")
    args, kwargs, task_id = parts
    if not args:
        raise MessageDecodeError("the task message has no arguments")
    return Envelope.decode(args[0], kwargs.get("routing_key"), delivery.headers, str(task_id or ""))


def _task_parts(body: Any, headers: dict[str, Any]) -> tuple[list[Any], dict[str, Any], object] | None:
    """``(args, kwargs, task id)`` of a Celery task message body (protocol 2, or protocol 1)."""
    if isinstance(body, list) and len(body) == PROTOCOL_2_PARTS:
        args, kwargs, _embed = body
        task_id = headers.get(CELERY_ID_HEADER)
    elif isinstance(body, dict):
        args, kwargs, task_id = body.get("args"), body.get("kwargs"), body.get("id")
    else:
        return None
    return (args, kwargs, task_id) if isinstance(args, list) and isinstance(kwargs, dict) else None


def inspect(delivery: Delivery, catalog: Catalog) -> Seen:
    """Decode, validate against the catalog and mask a delivery."""
    headers = shown_headers(delivery.headers)
    try:
        envelope = decode(delivery)
    except MessageDecodeError as exc:
        return Seen(delivery.routing_key, "undecodable", exc.reason, headers, "-")
    schema = catalog.get(envelope.routing_key)
    if schema is None:
        return Seen(delivery.routing_key, "not in the catalog", "", headers, to_json(envelope.payload))
    payload = to_json(schema.mask(envelope.payload))
    try:
        schema.validate(envelope.payload)
    except PayloadValidationError as exc:
        detail = "; ".join(f"{p.path}: {p.message}" for p in exc.problems)
        return Seen(delivery.routing_key, "invalid", detail, headers, payload)
    return Seen(delivery.routing_key, "valid", schema.schema_id, headers, payload)


def render(seen: Seen) -> Text:
    """Three lines: time, routing key and verdict; the headers; the payload (sensitive fields masked)."""
    stamp = dt.datetime.now().astimezone().strftime("%H:%M:%S.%f")[:-3]
    verdict = f"{seen.status}: {seen.detail}" if seen.detail else seen.status
    headers = "  ".join(f"{k}={v}" for k, v in seen.headers.items()) or "-"
    return Text.assemble(
        (stamp, "dim"),
        "  ",
        (seen.routing_key, "bold cyan"),
        "  ",
        (verdict, STYLES[seen.status]),
        "\n  headers  ",
        headers,
        "\n  payload  ",
        seen.payload,
    )


@contextmanager
def stop_on_signals() -> Iterator[list[int]]:
    """Turn SIGINT and SIGTERM into a request to stop (the list gets the signal) instead of an exception."""
    received: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(args: argparse.Namespace, output: Output) -> int:
    if args.count is not None and args.count < 1:
        raise CommandError(f"--count must be at least 1, got {args.count}")
    catalog = read_catalog(args.schemas) or Catalog()
    counts: Counter[str] = Counter()
    started = time.monotonic()
    deadline = None if args.timeout is None else started + args.timeout
    with stop_on_signals() as signals, Listener(broker_url(args.broker), args.pattern) as listener:

        def stop() -> bool:
            done = args.count is not None and counts.total() >= args.count
            return done or bool(signals) or (deadline is not None and time.monotonic() >= deadline)

        output.note(f"listening on tchu_events for {listener.pattern!r} (queue {listener.queue_name}); Ctrl-C to stop")
        for delivery in listener.deliveries(stop=stop):
            seen = inspect(delivery, catalog)
            counts[seen.status] += 1
            output.line(render(seen))
    elapsed = time.monotonic() - started
    breakdown = ", ".join(f"{counts[status]} {status}" for status in STYLES if counts[status])
    summary = f"received {counts.total()} event(s) matching {args.pattern!r} in {elapsed:.1f}s"
    output.line(f"{summary} ({breakdown})" if breakdown else summary)
    if args.count is not None and counts.total() < args.count and not signals:
        raise CommandError(f"timed out after {args.timeout}s with {counts.total()} of {args.count} event(s)")
    return 0
