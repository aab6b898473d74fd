"""Command line of the generator.

    python -m codegen [--schemas schemas] [--out generated] [--check]
    python -m codegen lint [--schemas schemas]
    python -m codegen stub PATTERN --service NAME [--schemas schemas] [--out generated] [--dest FILE] [--package P]

Errors print as one line each (no traceback) and exit with status 1; ``--check`` exits 1 when the output
differs from what the schemas generate, naming each stale, missing or extra file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from codegen.stub import stub
from tchu.catalog_files import CatalogEntry, load_catalog
from tchu.errors import TchuError

INSTALL_HINT = 'python -m codegen needs its extra: pip install "tchu[codegen]"'


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m codegen", description="Generate typed events from a catalog.")
    parser.add_argument("command", nargs="?", choices=["generate", "lint", "stub"], default="generate")
    parser.add_argument("pattern", nargs="?", help="stub: the subscription pattern, e.g. 'user.*'")
    parser.add_argument("--schemas", default="schemas", type=Path, help="catalog folder (default: schemas)")
    parser.add_argument("--out", default="generated", type=Path, help="output package folder (default: generated)")
    parser.add_argument("--check", action="store_true", help="exit 1 when --out is not what the schemas generate")
    parser.add_argument("--service", help="stub: the service the subscribers module belongs to")
    parser.add_argument("--dest", type=Path, help="stub: the module to write (default: <service>/subscribers.py)")
    parser.add_argument(
        "--package",
        help="stub: import path of the generated package (default: --out's folder name, under enclosing packages)",
    )
    return parser


def _label(schemas: Path) -> str:
    """How generated files name the catalog: its folder's name, so output never depends on where it ran."""
    return schemas.resolve().name or "schemas"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        entries = load_catalog(args.schemas, label=_label(args.schemas))
        if args.command == "lint":
            print(f"{args.schemas}: {len(entries)} events, no problems")
            return 0
        if args.command == "stub":
            return stub(entries, args)
        return _generate(entries, args)
    except TchuError as exc:  # SetupError (CatalogError), InvalidPatternError: one line each, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(f"error: {INSTALL_HINT} ({exc})", file=sys.stderr)
        return 1


def _generate(entries: list[CatalogEntry], args: argparse.Namespace) -> int:
    from codegen.output import compare, write  # noqa: PLC0415 -- jinja2 and datamodel-code-generator are extras
    from codegen.plan import plan  # noqa: PLC0415

    out: Path = args.out
    if not out.resolve().name.isidentifier():
        message = f"--out {out}: the folder's name is the package name, so it must be a Python identifier"
        print(f"error: {message}", file=sys.stderr)
        return 1
    files = plan(entries, _label(args.schemas))
    if args.check:
        diffs = compare(out, files)
        for diff in diffs:
            print(diff)
        if diffs:
            print(f"{out} is out of date with {args.schemas}: run python -m codegen", file=sys.stderr)
            return 1
        print(f"{out} is up to date ({len(entries)} events)")
        return 0
    written, removed, kept = write(out, files)
    for path in written:
        print(f"wrote {path}")
    for path in removed:
        print(f"removed {path}")
    for path in kept:
        print(f"kept {path} (not generated; remove it yourself if it is stale)")
    print(f"{out}: {len(entries)} events, {len(written)} written, {len(removed)} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
