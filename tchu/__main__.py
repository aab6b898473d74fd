"""``python -m tchu``: operate a running tchu deployment.

    python -m tchu dlq list QUEUE [--limit N] [--schemas DIR]
    python -m tchu dlq replay QUEUE [EVENT_ID ...] [--to service|exchange]

The broker is ``--broker``, else ``TCHU_BROKER_URL``, else ``CELERY_BROKER_URL``, else a local RabbitMQ.
Listed payloads show the fields the catalog marks sensitive (``"x-tchu-sensitive": true`` or ``writeOnly``) as
``"***"``; the catalog is read from ``--schemas`` (default ``schemas`` when that folder exists). Errors print as
one line on stderr with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tchu.catalog import Catalog
from tchu.catalog_files import load_catalog
from tchu.errors import TchuError

LOCAL_BROKER = "amqp://guest:guest@127.0.0.1:5672//"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tchu", description="Operate a tchu deployment.")
    parser.add_argument("--broker", help="AMQP URL (default: $TCHU_BROKER_URL, $CELERY_BROKER_URL, local RabbitMQ)")
    commands = parser.add_subparsers(dest="command", required=True)
    dlq = commands.add_parser("dlq", help="a service's dead-letter queue").add_subparsers(dest="action", required=True)
    listing = dlq.add_parser("list", help="print the entries of QUEUE.dlq, oldest first")
    listing.add_argument("queue", help="the service queue, e.g. users_queue")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--schemas", type=Path, help="catalog folder, to mask sensitive fields (default: schemas)")
    again = dlq.add_parser("replay", help="send entries of QUEUE.dlq back")
    again.add_argument("queue", help="the service queue, e.g. users_queue")
    again.add_argument("event_ids", nargs="*", help="the events to send back (default: all)")
    again.add_argument("--to", choices=["service", "exchange"], default="service")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    broker = args.broker or os.environ.get("TCHU_BROKER_URL") or os.environ.get("CELERY_BROKER_URL") or LOCAL_BROKER
    from tchu._celery import new_app  # noqa: PLC0415 -- Celery only for the commands that need it
    from tchu._celery.dlq import dead_letters, replay  # noqa: PLC0415

    app = new_app("tchu-cli", broker)
    try:
        if args.action == "list":
            catalog = _catalog(args.schemas)
            entries = dead_letters(app, args.queue, limit=args.limit)
            for entry in entries:
                handlers = ",".join(entry.handlers) or "-"
                schema = catalog.get(entry.routing_key)
                payload = json.dumps(schema.mask(entry.payload) if schema else entry.payload, default=str)
                print(f"{entry.event_id}  {entry.routing_key}  attempts={entry.attempts}  handlers={handlers}")
                print(f"    reason: {entry.reason.splitlines()[0] if entry.reason else '-'}")
                print(f"    payload: {payload}")
            print(f"{len(entries)} dead-lettered event(s) in {args.queue}.dlq")
        else:
            count = replay(app, args.queue, args.event_ids or None, to=args.to)
            target = args.queue if args.to == "service" else "tchu_events"
            print(f"replayed {count} event(s) from {args.queue}.dlq to {target}")
    except TchuError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        app.close()
    return 0


def _catalog(schemas: Path | None) -> Catalog:
    """The catalog in ``schemas`` (or ``./schemas`` when it exists); empty without one."""
    catalog = Catalog()
    folder = schemas if schemas is not None else Path("schemas")
    if schemas is None and not folder.is_dir():
        return catalog
    for entry in load_catalog(folder):
        catalog.register(entry.event_schema())
    return catalog


if __name__ == "__main__":
    sys.exit(main())
