"""Who consumes and who produces each event, read from a code tree without importing any of it.

:func:`discover` parses every ``.py`` file under the given folders (skipping ``.venv*``, ``.git``, hidden
folders, ``node_modules``, ``generated``, ``build``, ``tests`` and ``__pycache__``) and records, with the
Python AST only:

- services: ``setup_service(app, "<name>", handlers=["pkg.mod", ...])`` (``tchu.setup_service`` or bare); each
  dotted handler module is the file whose path ends with ``pkg/mod.py`` (or ``pkg/mod/__init__.py``);
- subscriptions: ``subscribe("pattern")`` and ``<anything>.subscribe("pattern")``, as decorators or plain
  calls; the generated typed decorators ``on_<event>`` / ``<pkg>.on_<event>``; the generated ``on("pattern")``
  when ``on`` is imported by name or called on an imported module;
- responders: ``respond("key")`` / ``<anything>.respond("key")`` and ``responds_<event>``;
- producers: ``<anything>.publish("key", ...)``, ``publish_<event>(...)`` and Django's
  ``publish_on_commit(client, "key", ...)`` (a ``TchuEvent`` passed to it names its topic in a class the scan
  does not follow); callers of rpc topics:
  ``<anything>.call("key", ...)`` (a key with at least one ``.``) and ``call_<event>(...)``.

Only string literals count: a key held in a variable is invisible to a static scan. Generated names are mapped
back to routing keys through :func:`tchu.naming.names_for` (``user.created`` -> ``on_user_created``), and
wildcards follow RabbitMQ (:func:`tchu.topics.topic_matches`), so a ``user.*`` or ``#`` subscriber consumes
``user.created``.

A file is attributed to every service whose ``handlers`` name it. Any other file belongs to the service set up
in its own folder or the nearest enclosing one (when exactly one ``setup_service`` call lives there), and
otherwise to its top-level folder under the scanned root (a file directly in the root: its module name).
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tchu.errors import SetupError
from tchu.naming import names_for
from tchu.topics import topic_matches

Role = Literal["subscribe", "respond", "publish", "call"]
SKIP_DIRS = frozenset({".git", "node_modules", "generated", "build", "tests", "__pycache__"})
_RPC_KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_TYPED: tuple[tuple[str, Role], ...] = (
    ("on_", "subscribe"),
    ("responds_", "respond"),
    ("publish_", "publish"),
    ("call_", "call"),
)
_LITERAL: dict[str, Role] = {"subscribe": "subscribe", "respond": "respond", "publish": "publish", "call": "call"}


@dataclass(frozen=True)
class Use:
    """One place where a service subscribes, responds, publishes or calls.

    ``pattern`` is the literal routing key or pattern; ``name`` the generated function used instead
    (``on_user_created``). Exactly one of them is set.
    """

    service: str
    role: Role
    pattern: str | None
    name: str | None
    file: str
    line: int


@dataclass(frozen=True)
class CodeMap:
    """What :func:`discover` found; queries answer with sorted service names."""

    uses: tuple[Use, ...]
    routing_keys: tuple[str, ...] = ()
    skipped: tuple[str, ...] = field(default=())

    def consumers_of(self, routing_key: str, *, rpc: bool = False) -> list[str]:
        """Services that read ``routing_key``: its subscribers, or for an rpc topic its responders."""
        return self._who(routing_key, "respond" if rpc else "subscribe")

    def producers_of(self, routing_key: str, *, rpc: bool = False) -> list[str]:
        """Services that write ``routing_key``: its publishers, or for an rpc topic its callers."""
        return self._who(routing_key, "call" if rpc else "publish")

    def services(self) -> dict[str, tuple[str, ...]]:
        """Each service's subscription patterns and responder keys.

        Generated decorators show as the routing keys of ``routing_keys`` they stand for; without routing keys,
        as their own names (``on_user_created``). A service with neither is left out.
        """
        return self._by_service({"subscribe", "respond"})

    def producers(self) -> dict[str, tuple[str, ...]]:
        """Each service's published and called routing keys, as :meth:`services` names them."""
        return self._by_service({"publish", "call"})

    def _by_service(self, roles: set[str]) -> dict[str, tuple[str, ...]]:
        out: dict[str, set[str]] = {}
        for use in self.uses:
            if use.role not in roles:
                continue
            if use.pattern is not None:
                keys = {use.pattern}
            elif self.routing_keys:
                keys = {k for k in self.routing_keys if _typed_name(k, use.role) == use.name}
            else:
                keys = {use.name or ""}
            if keys:
                out.setdefault(use.service, set()).update(keys)
        return {service: tuple(sorted(keys)) for service, keys in sorted(out.items())}

    def _who(self, routing_key: str, role: Role) -> list[str]:
        typed = _typed_name(routing_key, role)
        found = set()
        for use in self.uses:
            if use.role != role:
                continue
            if use.name is not None:
                hit = use.name == typed
            elif role == "subscribe":
                hit = _matches(use.pattern or "", routing_key)
            else:
                hit = use.pattern == routing_key
            if hit:
                found.add(use.service)
        return sorted(found)


def discover(roots: Sequence[Path], *, routing_keys: Iterable[str] = ()) -> CodeMap:
    """Scan ``roots`` for services, subscriptions, responders and publishers (see the module docstring).

    ``routing_keys`` (the catalog's) lets :meth:`CodeMap.services` show generated decorators as keys.

    Raises:
        SetupError: a root is not a folder.
    """
    files: dict[Path, Path] = {}  # file -> the root it was found under
    for root in roots:
        if not root.is_dir():
            raise SetupError(f"--code {root}: no such folder")
        for path in _python_files(root.resolve()):
            files.setdefault(path, root.resolve())
    parsed: dict[Path, ast.Module] = {}
    skipped = []
    for path in sorted(files):
        try:
            parsed[path] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            skipped.append(str(path))
    setups = [(path, *setup) for path, tree in parsed.items() for setup in _setups(tree)]
    owners = _owners(setups, list(parsed))
    uses: list[Use] = []
    for path, tree in parsed.items():
        services = owners.get(path) or [_fallback(path, files[path], setups)]
        uses.extend(
            Use(service, role, pattern, name, str(path), line)
            for role, pattern, name, line in _uses(tree)
            for service in services
        )
    ordered = sorted(set(uses), key=lambda u: (u.service, u.role, u.pattern or "", u.name or "", u.file, u.line))
    return CodeMap(tuple(ordered), tuple(sorted(set(routing_keys))), tuple(skipped))


def _python_files(root: Path) -> Iterator[Path]:
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        yield from (Path(folder, n) for n in sorted(names) if n.endswith(".py"))


def _setups(tree: ast.Module) -> Iterator[tuple[str, tuple[str, ...]]]:
    """``(service, handler modules)`` of each ``setup_service`` call with a literal service name, and of each
    ``tchu.contrib.django.setup(app, service="...")`` (its handler modules are found at run time, so the files
    of its folder are the service's)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _func_name(node) in {"setup_service", "setup"}:
            if _func_name(node) == "setup" and _keyword(node, "service") is None:
                continue  # another library's setup()
            name = _literal(node.args[1]) if len(node.args) > 1 else _keyword(node, "service")
            if name is None:
                continue
            handlers = next((k.value for k in node.keywords if k.arg == "handlers"), None)
            modules: tuple[str, ...] = ()
            if isinstance(handlers, ast.List | ast.Tuple):
                modules = tuple(m for m in (_literal(e) for e in handlers.elts) if m is not None)
            yield name, modules


def _owners(setups: list[tuple[Path, str, tuple[str, ...]]], paths: list[Path]) -> dict[Path, list[str]]:
    """Files named as handler modules, with the services that name them."""
    dotted = {path: path.parts[:-1] if path.name == "__init__.py" else (*path.parts[:-1], path.stem) for path in paths}
    owners: dict[Path, set[str]] = {}
    for _, service, modules in setups:
        for module in modules:
            parts = tuple(module.split("."))
            for path, names in dotted.items():
                if names[-len(parts) :] == parts:
                    owners.setdefault(path, set()).add(service)
    return {path: sorted(services) for path, services in owners.items()}


def _fallback(path: Path, root: Path, setups: list[tuple[Path, str, tuple[str, ...]]]) -> str:
    folder = path.parent
    while folder.is_relative_to(root):
        here = {service for where, service, _ in setups if where.parent == folder}
        if len(here) == 1:
            return here.pop()
        if folder == root:
            break
        folder = folder.parent
    relative = path.relative_to(root).parts
    return relative[0] if len(relative) > 1 else path.stem


def _uses(tree: ast.Module) -> Iterator[tuple[Role, str | None, str | None, int]]:
    imported_on, modules = _imports(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for deco in node.decorator_list:
                if isinstance(deco, ast.Name | ast.Attribute):
                    yield from _typed(_func_name_of(deco), deco.lineno)
        elif isinstance(node, ast.Call):
            yield from _typed(_func_name(node), node.lineno)
            if _func_name(node) == "publish_on_commit":  # (client, "key", data): the key comes second
                key = _literal(node.args[1]) if len(node.args) > 1 else _keyword(node, "topic")
                if key is not None:
                    yield "publish", key, None, node.lineno
                continue
            role = _literal_role(node, imported_on, modules)
            key = _literal(node.args[0]) if node.args else _keyword(node, "routing_key", "topic")
            if role is not None and key is not None and (role != "call" or _RPC_KEY.match(key)):
                yield role, key, None, node.lineno


def _literal_role(call: ast.Call, imported_on: bool, modules: set[str]) -> Role | None:
    """The role of a call that names its routing key or pattern as its first argument."""
    name = _func_name(call)
    attribute = isinstance(call.func, ast.Attribute)
    if name in {"subscribe", "respond"} or (name in {"publish", "call"} and attribute):
        return _LITERAL[name or ""]
    if name == "on" and _generated_on(call.func, imported_on, modules):
        return "subscribe"
    return None


def _typed(name: str | None, line: int) -> Iterator[tuple[Role, str | None, str | None, int]]:
    for prefix, role in _TYPED:
        if name is not None and name.startswith(prefix) and len(name) > len(prefix):
            yield role, None, name, line


def _imports(tree: ast.Module) -> tuple[bool, set[str]]:
    """Whether ``on`` is imported by name, and the local names bound to imported modules."""
    imported_on = False
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "on" and alias.asname in {None, "on"}:
                    imported_on = True
                else:
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            modules.update(alias.asname or alias.name.partition(".")[0] for alias in node.names)
    return imported_on, modules


def _generated_on(func: ast.expr, imported_on: bool, modules: set[str]) -> bool:
    if isinstance(func, ast.Name):
        return imported_on
    return isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in modules


def _func_name(call: ast.Call) -> str | None:
    return _func_name_of(call.func)


def _func_name_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _keyword(call: ast.Call, *names: str) -> str | None:
    return next((_literal(k.value) for k in call.keywords if k.arg in names), None)


def _typed_name(routing_key: str, role: Role) -> str | None:
    try:
        names = names_for(routing_key)
    except SetupError:
        return None
    return {"subscribe": names.subscriber, "respond": names.responder, "publish": names.publisher}.get(
        role, names.caller
    )


def _matches(pattern: str, routing_key: str) -> bool:
    try:
        return topic_matches(pattern, routing_key)
    except ValueError:  # InvalidPatternError, InvalidRoutingKeyError: a literal that is not a pattern
        return False
