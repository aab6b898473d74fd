"""``tchu dlq list|show|replay``: read a service's dead-letter queue and send entries back."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from tchu.catalog import Catalog
from tchu.cli.output import CommandError, Output, broker_url, read_catalog, to_json

SHOW_LIMIT = 10_000


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = commands.add_parser("dlq", help="a service's dead-letter queue").add_subparsers(dest="action", required=True)
    listing = dlq.add_parser("list", help="print the entries of QUEUE.dlq, oldest first")
    listing.add_argument("queue", help="the service queue, e.g. users_queue")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--schemas", type=Path, help="catalog folder, to mask sensitive fields (default: schemas)")
    show = dlq.add_parser("show", help="print one entry of QUEUE.dlq in full")
    show.add_argument("queue", help="the service queue, e.g. users_queue")
    show.add_argument("event_id", help="the event id, as dlq list prints it")
    show.add_argument("--schemas", type=Path, help="catalog folder, to mask sensitive fields (default: schemas)")
    again = dlq.add_parser("replay", help="send entries of QUEUE.dlq back")
    again.add_argument("queue", help="the service queue, e.g. users_queue")
    again.add_argument("event_ids", nargs="*", help="the events to send back (default: all)")
    again.add_argument("--to", choices=["service", "exchange"], default="service")


def run(args: argparse.Namespace, output: Output) -> int:
    from tchu._celery import new_app  # noqa: PLC0415 -- Celery only for the commands that need it
    from tchu._celery.broker import connect  # noqa: PLC0415

    catalog = read_catalog(args.schemas) if args.action in {"list", "show"} else None
    url = broker_url(args.broker)
    connect(url).release()  # one quick attempt: an unreachable broker is reported at once
    app = new_app("tchu-cli", url)
    try:
        if args.action == "list":
            _list(app, args, catalog or Catalog(), output)
        elif args.action == "show":
            _show(app, args, catalog or Catalog(), output)
        else:
            _replay(app, args, output)
    finally:
        app.close()
    return 0


def _masked(catalog: Catalog, routing_key: str, payload: Any) -> Any:
    schema = catalog.get(routing_key)
    return schema.mask(payload) if schema is not None else payload


def _list(app: Any, args: argparse.Namespace, catalog: Catalog, output: Output) -> None:
    from tchu._celery.dlq import dead_letters  # noqa: PLC0415

    entries = dead_letters(app, args.queue, limit=args.limit)
    for entry in entries:
        handlers = ",".join(entry.handlers) or "-"
        output.line(f"{entry.event_id}  {entry.routing_key}  attempts={entry.attempts}  handlers={handlers}")
        output.line(f"    reason: {entry.reason.splitlines()[0] if entry.reason else '-'}")
        output.line(f"    payload: {to_json(_masked(catalog, entry.routing_key, entry.payload))}")
    output.line(f"{len(entries)} dead-lettered event(s) in {args.queue}.dlq")


def _show(app: Any, args: argparse.Namespace, catalog: Catalog, output: Output) -> None:
    from tchu._celery.dlq import dead_letters  # noqa: PLC0415

    entries = dead_letters(app, args.queue, limit=SHOW_LIMIT)
    entry = next((e for e in entries if e.event_id == args.event_id), None)
    if entry is None:
        raise CommandError(f"no event {args.event_id} among the {len(entries)} entries of {args.queue}.dlq")
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    for name, value in (
        ("event id", entry.event_id),
        ("routing key", entry.routing_key or "-"),
        ("dead-lettered at", entry.dead_lettered_at or "-"),
        ("attempts", str(entry.attempts)),
        ("handlers", ", ".join(entry.handlers) or "-"),
        ("reason", entry.reason or "-"),
    ):
        fields.add_row(name, Text(value))
    output.show(fields)
    output.line(Text("headers", style="bold"))
    for name in sorted(entry.headers):
        output.line(f"  {name}: {to_json(entry.headers[name])}")
    output.line(Text("payload", style="bold"))
    output.line(to_json(_masked(catalog, entry.routing_key, entry.payload), indent=2))


def _replay(app: Any, args: argparse.Namespace, output: Output) -> None:
    from tchu._celery.dlq import replay  # noqa: PLC0415

    count = replay(app, args.queue, args.event_ids or None, to=args.to)
    target = args.queue if args.to == "service" else "tchu_events"
    output.line(f"replayed {count} event(s) from {args.queue}.dlq to {target}")
