"""Command line of the generator.

    python -m codegen [--schemas schemas] [--out generated] [--check]
    python -m codegen lint [--schemas schemas]
    python -m codegen stub PATTERN --service NAME [--schemas schemas] [--out generated] [--dest FILE] [--package P]
    python -m codegen compat --against REF_OR_FOLDER [--schemas schemas] [--mode full] [--code DIR ...]
                             [--allow FILE] [--json]
    python -m codegen asyncapi [--schemas schemas] [--out asyncapi.json] [--code DIR ...]   (codegen.asyncapi)
    python -m codegen catalog [--schemas schemas] [--out catalog.html] [--code DIR ...]     (codegen.catalog_page)

Errors print as one line each (no traceback) and exit with status 1; ``--check`` exits 1 when the output
differs from what the schemas generate, naming each stale, missing or extra file; ``compat`` exits 1 when a
change would break a consumer or producer and is neither a version bump nor allow-listed (:mod:`codegen.compat`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codegen.stub import stub
from tchu.catalog_files import ALLOW_FILE, COMPAT_MODES, CatalogEntry, load_catalog
from tchu.errors import SetupError, TchuError

INSTALL_HINT = 'python -m codegen needs its extra: pip install "tchu[codegen]"'


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m codegen", description="Generate typed events from a catalog.")
    parser.add_argument("command", nargs="?", choices=["generate", "lint", "stub", "compat"], default="generate")
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
    parser.add_argument("--against", help="compat: the baseline, a git ref (main, origin/main, HEAD~1) or a folder")
    parser.add_argument(
        "--mode", choices=COMPAT_MODES, default="full", help="compat: unless x-tchu.compatibility says (default: full)"
    )
    parser.add_argument(
        "--code", action="append", type=Path, help="compat: folder scanned for consumers and producers (default: .)"
    )
    parser.add_argument("--allow", type=Path, help=f"compat: allow-list file (default: <schemas>/{ALLOW_FILE})")
    parser.add_argument("--json", action="store_true", help="compat: print the report as JSON")
    return parser


def _label(schemas: Path) -> str:
    """How generated files name the catalog: its folder's name, so output never depends on where it ran."""
    return schemas.resolve().name or "schemas"


EXPORTS = {"asyncapi": "codegen.asyncapi", "catalog": "codegen.catalog_page"}  # commands with parsers of their own


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in EXPORTS:
        export: Any = importlib.import_module(EXPORTS[argv[0]])
        return int(export.main(argv[1:]))
    return _run(_parser().parse_args(argv))


def _run(args: argparse.Namespace) -> int:
    try:
        if args.command == "compat":
            return _compat(args)
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


def _compat(args: argparse.Namespace) -> int:
    if not args.against:
        raise SetupError("compat needs a baseline: --against <git ref or catalog folder>, e.g. --against main")
    from codegen import compat  # noqa: PLC0415 -- only this command needs the rules and the code scan

    status, text = compat.run(
        schemas=args.schemas,
        label=_label(args.schemas),
        against=args.against,
        mode=args.mode,
        code=args.code or [Path()],
        allow=args.allow,
        as_json=args.json,
        cwd=Path.cwd(),
    )
    print(text)
    return status


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
