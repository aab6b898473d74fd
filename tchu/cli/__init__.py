"""The ``tchu`` command: look at and operate a tchu deployment from a shell.

    tchu catalog [--schemas DIR]
    tchu publish ROUTING_KEY JSON|@FILE [--schemas DIR] [--allow-unknown]
    tchu listen PATTERN [--schemas DIR] [--count N] [--timeout S]
    tchu dlq list QUEUE [--limit N] [--schemas DIR]
    tchu dlq show QUEUE EVENT_ID [--schemas DIR]
    tchu dlq replay QUEUE [EVENT_ID ...] [--to service|exchange]
    tchu bindings SERVICE --handlers MODULE[,MODULE] [--queue Q] [--apply]
    tchu check [--schemas DIR] [--out DIR] [--against REF]

The broker is ``--broker``, else ``TCHU_BROKER_URL``, else ``CELERY_BROKER_URL``, else a local RabbitMQ; the
management API is derived from it (port 15672) unless ``TCHU_MANAGEMENT_URL`` says otherwise. Payloads are
shown with the fields the catalog marks sensitive as ``"***"``. A mistake (bad JSON, an unknown routing key, an
unreachable broker, a missing queue) prints one ``error: ...`` line on stderr and exits with status 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from tchu.cli import bindings, catalog, check, dlq, listen, publish
from tchu.cli.output import Output, describe_error, route_warnings
from tchu.errors import TchuError

COMMANDS: dict[str, Callable[[argparse.Namespace, Output], int]] = {
    "catalog": catalog.run,
    "publish": publish.run,
    "listen": listen.run,
    "dlq": dlq.run,
    "bindings": bindings.run,
    "check": check.run,
}
BROKER_HELP = "AMQP URL (default: $TCHU_BROKER_URL, $CELERY_BROKER_URL, local RabbitMQ)"
INTERRUPTED = 130


def build_parser(prog: str = "tchu") -> argparse.ArgumentParser:
    """The parser of every subcommand; ``--broker`` is accepted before or after the subcommand."""
    parser = argparse.ArgumentParser(prog=prog, description="Look at and operate a tchu deployment.")
    parser.add_argument("--broker", help=BROKER_HELP)
    commands = parser.add_subparsers(dest="command", required=True)
    for module in (catalog, publish, listen, dlq, bindings, check):
        module.add_parser(commands)
    for sub in commands.choices.values():
        _add_broker(sub)
    return parser


def _add_broker(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", default=argparse.SUPPRESS, help=BROKER_HELP)
    for action in parser._actions:  # noqa: SLF001 -- argparse exposes nested subcommands no other way
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub in action.choices.values():
                _add_broker(sub)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    output = Output()
    route_warnings(output)
    try:
        return COMMANDS[args.command](args, output)
    except TchuError as exc:
        output.error(describe_error(exc))
        return 1
    except KeyboardInterrupt:
        output.error("interrupted")
        return INTERRUPTED
