"""``tchu check``: the catalog lint, ``codegen --check`` and, with ``--against``, ``codegen compat``, in one."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from importlib import import_module

from rich.table import Table
from rich.text import Text

from tchu.cli.output import CommandError, Output

INSTALL_HINT = 'tchu check needs the codegen extra: pip install "tchu[codegen]"'
CODEGEN_MODULES = ("jinja2", "datamodel_code_generator", "codegen.__main__")
RESULT_STYLES = {"passed": "green", "failed": "bold red", "skipped": "yellow"}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("check", help="lint the catalog, check the generated package (and compatibility)")
    parser.add_argument("--schemas", default="schemas", help="catalog folder (default: schemas)")
    parser.add_argument("--out", default="generated", help="generated package folder (default: generated)")
    parser.add_argument("--against", help="also run codegen compat against this git ref or catalog folder")


def codegen_main() -> Callable[[Sequence[str]], int]:
    """``codegen.__main__.main``, once the codegen extra is known to be installed.

    Raises:
        CommandError: the extra is missing.
    """
    try:
        for name in CODEGEN_MODULES:
            module = import_module(name)
    except ImportError as exc:
        raise CommandError(f"{INSTALL_HINT} ({exc})") from exc
    main: Callable[[Sequence[str]], int] = module.main
    return main


def _status(main: Callable[[Sequence[str]], int], argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse refusing the arguments
        return exc.code if isinstance(exc.code, int) else 1


def run(args: argparse.Namespace, output: Output) -> int:
    main = codegen_main()
    steps = [
        ("lint", ["lint", "--schemas", args.schemas]),
        ("codegen --check", ["--schemas", args.schemas, "--out", args.out, "--check"]),
    ]
    if args.against:
        steps.append(("compat", ["compat", "--against", args.against, "--schemas", args.schemas]))
    results: list[tuple[str, str]] = []
    for name, argv in steps:
        if results and results[0][1] == "failed":
            results.append((name, "skipped"))  # the catalog does not lint: the same problems again
            continue
        output.line(Text(f"── {name}", style="bold"))
        results.append((name, "passed" if _status(main, argv) == 0 else "failed"))
    table = Table("check", "result")
    for name, result in results:
        table.add_row(Text(name), Text(result, style=RESULT_STYLES[result]))
    output.show(table)
    failed = [name for name, result in results if result == "failed"]
    output.line(f"check failed: {', '.join(failed)}" if failed else "check passed")
    return 1 if failed else 0
