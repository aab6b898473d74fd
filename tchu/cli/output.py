"""What every subcommand shares: where output goes, how errors read, the broker URL and the catalog."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from tchu.catalog import Catalog
from tchu.catalog_files import CatalogError, load_catalog
from tchu.errors import PayloadValidationError, TchuError

LOCAL_BROKER = "amqp://guest:guest@127.0.0.1:5672//"
PIPE_WIDTH = 200  # tables written to a pipe or file are not cut to 80 columns


class CommandError(TchuError):
    """A mistake in what the command was asked to do; printed as one ``error: ...`` line, exit status 1."""


def _console(*, stderr: bool) -> Console:
    console = Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


class Output:
    """Results on stdout; errors, warnings and progress on stderr. Text is never read as rich markup."""

    def __init__(self) -> None:
        self.out = _console(stderr=False)
        self.err = _console(stderr=True)

    def line(self, text: str | Text = "") -> None:
        """Print one line of results."""
        self.out.print(text, markup=False)

    def show(self, renderable: Any) -> None:
        """Print a table or another rich renderable."""
        self.out.print(renderable)

    def note(self, text: str | Text) -> None:
        """Print a status line on stderr."""
        self.err.print(text, markup=False)

    def warning(self, message: str) -> None:
        """Print ``warning: message`` on stderr."""
        self.err.print(Text.assemble(("warning: ", "yellow"), message), markup=False)

    def error(self, message: str) -> None:
        """Print ``error: message`` on stderr."""
        self.err.print(Text.assemble(("error: ", "bold red"), message), markup=False)


class _WarningLines(logging.Handler):
    """tchu's own warnings (a reconnect while publishing, ...) as ``warning: ...`` lines."""

    def __init__(self, output: Output) -> None:
        super().__init__(logging.WARNING)
        self.output = output

    def emit(self, record: logging.LogRecord) -> None:
        self.output.warning(record.getMessage())


def route_warnings(output: Output) -> None:
    """Print the warnings of tchu's loggers through ``output`` instead of Python's last-resort handler."""
    logger = logging.getLogger("tchu")
    if not any(isinstance(h, _WarningLines) for h in logger.handlers):
        logger.addHandler(_WarningLines(output))


def describe_error(exc: TchuError) -> str:
    """The message of ``exc`` for an ``error:`` line: one line, except a catalog's list of problems."""
    if isinstance(exc, PayloadValidationError):
        problems = "; ".join(f"{p.path}: {p.message}" for p in exc.problems)
        return f"payload for {exc.routing_key!r} does not match {exc.schema_id}: {problems}"
    if isinstance(exc, CatalogError):
        return str(exc)
    return " ".join(str(exc).split()) or type(exc).__name__


def broker_url(explicit: str | None) -> str:
    """``--broker``, else ``TCHU_BROKER_URL``, else ``CELERY_BROKER_URL``, else the local RabbitMQ."""
    return explicit or os.environ.get("TCHU_BROKER_URL") or os.environ.get("CELERY_BROKER_URL") or LOCAL_BROKER


def read_catalog(schemas: Path | None) -> Catalog | None:
    """The catalog in ``schemas`` (or ``./schemas`` when it exists); ``None`` when there is none to read.

    Raises:
        CatalogError: the folder does not lint (every problem listed).
    """
    folder = schemas if schemas is not None else Path("schemas")
    if schemas is None and not folder.is_dir():
        return None
    catalog = Catalog()
    for entry in load_catalog(folder):
        catalog.register(entry.event_schema())
    return catalog


def to_json(value: Any, *, indent: int | None = None) -> str:
    """``value`` as JSON for display (anything JSON cannot hold shown as a string)."""
    return json.dumps(value, default=str, indent=indent)
