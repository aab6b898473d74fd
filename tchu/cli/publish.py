"""``tchu publish``: validate one event against the catalog, publish it with a confirm, print its event id."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from tchu.catalog import Catalog
from tchu.cli.output import CommandError, Output, broker_url, read_catalog
from tchu.client import TchuClient
from tchu.errors import UnroutableError
from tchu.topics import validate_routing_key


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("publish", help="validate an event against the catalog and publish it")
    parser.add_argument("routing_key", help="the event's routing key, e.g. user.created")
    parser.add_argument("payload", help="the payload: a JSON object, or @FILE holding one (@- reads stdin)")
    parser.add_argument("--schemas", type=Path, help="catalog folder (default: schemas, when it exists)")
    parser.add_argument(
        "--allow-unknown", action="store_true", help="publish a routing key the catalog does not have, unvalidated"
    )


def read_payload(argument: str) -> dict[str, Any]:
    """The JSON object given inline, in ``@FILE``, or on stdin with ``@-``.

    Raises:
        CommandError: the file cannot be read, or the text is not a JSON object.
    """
    source = "the payload"
    text = argument
    if argument.startswith("@"):
        name = argument[1:]
        source = "stdin" if name == "-" else name
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read the payload file {name}: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{source} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CommandError(f"{source} must be a JSON object, got {type(data).__name__}")
    return data


def run(args: argparse.Namespace, output: Output) -> int:
    data = read_payload(args.payload)
    catalog = read_catalog(args.schemas)
    if catalog is None:
        output.warning("no catalog (no ./schemas folder and no --schemas): the payload is not validated")
        catalog = Catalog()
    elif not args.allow_unknown and catalog.get(validate_routing_key(args.routing_key)) is None:
        raise CommandError(
            f"{args.routing_key!r} is not in the catalog ({args.schemas or 'schemas'}): fix the routing key, "
            "or publish it unvalidated with --allow-unknown"
        )
    from tchu._celery import new_app  # noqa: PLC0415 -- Celery only for the commands that need it
    from tchu._celery.broker import connect  # noqa: PLC0415

    url = broker_url(args.broker)
    app = new_app("tchu-cli", url)
    client = TchuClient(app, catalog=catalog, unroutable="raise")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DeprecationWarning)
            envelope = client.publisher.envelope(args.routing_key, data)  # validated; nothing sent yet
        for warning in caught:
            output.warning(str(warning.message))
        connect(url).release()  # one quick attempt, instead of the publisher's reconnects with backoff
        try:
            client.transport.send(envelope)
        except UnroutableError as exc:
            output.warning(f"{exc}; the broker confirmed it and dropped it")
        output.line(envelope.event_id)
    finally:
        client.close()
        app.close()
    return 0
