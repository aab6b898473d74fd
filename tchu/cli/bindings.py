"""``tchu bindings``: compare a service queue's bindings with its handlers' patterns, and fix them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from tchu.cli.output import CommandError, Output, broker_url

if TYPE_CHECKING:
    from tchu._celery.bindings import BindingDiff

STATE_STYLES = {"bound": "green", "missing": "bold red", "stale": "yellow"}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("bindings", help="compare a service queue's bindings with its handlers")
    parser.add_argument("service", help="the service name, as given to setup_service")
    parser.add_argument(
        "--handlers",
        action="append",
        required=True,
        help="the handler modules, comma-separated (as setup_service's handlers=), imported from the current folder",
    )
    parser.add_argument("--queue", help="the service queue (default: <service>_queue)")
    parser.add_argument("--management-url", help="RabbitMQ management API (default: $TCHU_MANAGEMENT_URL, host:15672)")
    parser.add_argument("--apply", action="store_true", help="bind the missing patterns and unbind the stale ones")


def modules_of(values: list[str]) -> list[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]``."""
    modules = [m.strip() for value in values for m in value.split(",") if m.strip()]
    if not modules:
        raise CommandError("--handlers names no module")
    return modules


def run(args: argparse.Namespace, output: Output) -> int:
    from tchu._celery.bindings import apply, compare, needed_patterns  # noqa: PLC0415

    cwd = str(Path.cwd())
    if cwd not in sys.path:  # handler modules are found as `celery -A` finds the app
        sys.path.insert(0, cwd)
    url = broker_url(args.broker)
    queue = args.queue or f"{args.service}_queue"
    needed = needed_patterns(args.service, modules_of(args.handlers))
    diff = compare(url, queue, needed, management_url=args.management_url)
    output.line(f"{queue} (vhost {diff.vhost}): {len(diff.needed)} pattern(s) needed by the handlers of {args.service}")
    output.show(bindings_table(diff))
    if diff.in_sync:
        output.line(f"{queue} matches its handlers")
        return 0
    counts = f"{len(diff.missing)} missing, {len(diff.stale)} stale"
    if not args.apply:
        output.line(f"{queue} differs from its handlers: {counts}; run with --apply to fix")
        return 1
    apply(url, diff)
    after = compare(url, queue, needed, management_url=args.management_url)
    if not after.in_sync:
        raise CommandError(f"{queue} still differs after --apply: missing {after.missing}, stale {after.stale}")
    output.line(f"bound {len(diff.missing)} and unbound {len(diff.stale)} pattern(s): {queue} matches its handlers")
    return 0


def bindings_table(diff: BindingDiff) -> Table:
    """One row per pattern: bound, missing (needed, not bound) or stale (bound, not needed)."""
    table = Table("pattern", "binding")
    rows = [(p, "missing" if p in diff.missing else "bound") for p in diff.needed] + [(p, "stale") for p in diff.stale]
    for pattern, state in rows:
        table.add_row(Text(pattern), Text(state, style=STATE_STYLES[state]))
    return table
