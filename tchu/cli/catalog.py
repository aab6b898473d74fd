"""``tchu catalog``: the events of a catalog folder as a table."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table
from rich.text import Text

from tchu.catalog_files import CatalogEntry, load_catalog
from tchu.cli.output import Output


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("catalog", help="list the events of the catalog")
    parser.add_argument("--schemas", type=Path, default=Path("schemas"), help="catalog folder (default: schemas)")


def run(args: argparse.Namespace, output: Output) -> int:
    entries = load_catalog(args.schemas)
    output.show(catalog_table(entries))
    output.line(f"{len(entries)} event(s) in {args.schemas}")
    return 0


def catalog_table(entries: list[CatalogEntry]) -> Table:
    """One row per event: routing key, kind, owner, version, deprecated, description."""
    table = Table("routing key", "kind", "owner", "version", "deprecated", "description")
    for entry in entries:
        cells = (
            entry.routing_key,
            entry.kind,
            entry.owner or "-",
            "-" if entry.version is None else str(entry.version),
            "yes" if entry.deprecated else "no",
            entry.description or "-",
        )
        table.add_row(*(Text(cell) for cell in cells))
    return table
