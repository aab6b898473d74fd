"""``python -m codegen stub PATTERN --service NAME``: scaffold typed handlers for the events a pattern matches.

A new module gets a docstring, its imports and one stub per event. An existing module keeps every line it has:
only handlers it lacks are appended (with their imports), so running the command again changes nothing.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

from tchu.catalog_files import CatalogEntry
from tchu.errors import SetupError
from tchu.naming import names_for
from tchu.topics import compile_pattern


def handler_name(routing_key: str) -> str:
    """The stub handler's function name for ``routing_key``."""
    return f"handle_{names_for(routing_key).snake}"


def stub(entries: list[CatalogEntry], args: argparse.Namespace) -> int:
    """Write or extend the subscribers module; returns the exit status."""
    if not args.pattern or not args.service:
        raise SetupError("stub needs a pattern and --service, e.g. python -m codegen stub 'user.*' --service mail")
    pattern = compile_pattern(args.pattern)
    matched = [e for e in entries if e.kind == "event" and pattern.matches(e.routing_key)]
    if not matched:
        keys = ", ".join(e.routing_key for e in entries if e.kind == "event")
        raise SetupError(f"pattern {args.pattern!r} matches no event of the catalog ({keys})")
    package = args.package or import_path(Path(args.out))
    dest: Path = args.dest or Path(args.service) / "subscribers.py"
    existing = dest.read_text(encoding="utf-8") if dest.exists() else None
    defined = _defined_names(existing, dest) if existing is not None else set()
    todo = [
        e for e in matched if {handler_name(e.routing_key), names_for(e.routing_key).subscriber}.isdisjoint(defined)
    ]
    if not todo:
        print(f"{dest}: every event matching {args.pattern!r} already has a handler")
        return 0
    imports = [f"from {package} import {', '.join(_names(todo))}"]
    functions = "\n\n".join(_function(e) for e in todo)
    if existing is None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        doc = f'"""Handlers of the {args.service} service for {args.pattern!r} events."""'
        text = f"{doc}\n\nfrom __future__ import annotations\n\n{imports[0]}\n\n\n{functions}"
    else:
        text = _insert_import(existing, imports[0]).rstrip("\n") + "\n\n\n" + functions
    dest.write_text(text, encoding="utf-8")
    for entry in todo:
        print(f"{dest}: added {handler_name(entry.routing_key)} for {entry.routing_key}")
    return 0


def import_path(folder: Path) -> str:
    """The dotted import path of the package in ``folder``: its name, under every enclosing regular package.

    ``--out src/shop/events`` with ``src/shop/__init__.py`` gives ``shop.events``.
    """
    folder = folder.resolve()
    parts = [folder.name]
    parent = folder.parent
    while (parent / "__init__.py").is_file() and parent != parent.parent:
        parts.insert(0, parent.name)
        parent = parent.parent
    return ".".join(parts)


def _names(entries: list[CatalogEntry]) -> list[str]:
    names = set()
    for e in entries:
        n = names_for(e.routing_key)
        names |= {n.model, n.subscriber}
    return sorted(names)


def _function(entry: CatalogEntry) -> str:
    n = names_for(entry.routing_key)
    return (
        f"@{n.subscriber}\n"
        f"def {handler_name(entry.routing_key)}(event: {n.model}) -> None:\n"
        f'    """Handle ``{entry.routing_key}``."""\n'
        f'    raise NotImplementedError("handle {entry.routing_key}")\n'
    )


def _defined_names(source: str, dest: Path) -> set[str]:
    """Top-level names of the module, and the decorators its functions already use (an event handled by a
    function of another name needs no stub)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise SetupError(f"{dest} is not valid Python ({exc}); fix it before adding stubs") from exc
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            names |= {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
            names |= {d.attr for d in node.decorator_list if isinstance(d, ast.Attribute)}
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _insert_import(source: str, line: str) -> str:
    tree = ast.parse(source)
    last = max((node.end_lineno or 0 for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)), default=0)
    if last == 0:  # no imports: after the module docstring, if any
        first = tree.body[0] if tree.body else None
        doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
        last = (first.end_lineno or 0) if doc and first is not None else 0
    lines = source.splitlines()
    return "\n".join([*lines[:last], line, *lines[last:]]) + "\n"
