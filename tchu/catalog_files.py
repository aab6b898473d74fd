"""Read a catalog folder once: lint every schema, resolve ``$ref`` into self-contained documents.

A catalog is a folder of ``<routing_key>.json`` files (JSON Schema 2020-12) with shared definitions in
``_defs/``, referenced by relative ``$ref``. :func:`load_catalog` returns one :class:`CatalogEntry` per event,
whose schemas embed what they reference under ``$defs``, so a generated package and a deployed service never
need the files. Every problem names its file and JSON pointer; all of them are reported at once.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from tchu.catalog import EventSchema, Kind, meta_valid
from tchu.errors import PayloadValidationError, SetupError
from tchu.naming import CATALOG_KEY, check_collisions

DEFS_DIR = "_defs"
XTCHU = "x-tchu"
XTCHU_KEYS = frozenset({"kind", "response", "owner", "version", "deprecated", "description", "compatibility"})
# how python -m codegen compat checks an event's changes (x-tchu.compatibility; the command's --mode otherwise)
COMPAT_MODES = ("backward", "forward", "full", "backward_transitive", "forward_transitive", "full_transitive", "none")
ALLOW_FILE = "compat-allow.json"  # the compatibility gate's allow-list, beside the events: not an event
_META = Draft202012Validator(Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _meta_errors(schema: Any) -> Iterable[Any]:
    """jsonschema's errors of ``schema`` against the 2020-12 meta-schema; only asked when the fast check fails."""
    return () if meta_valid(schema) else _META.iter_errors(schema)


INSTANCE_KEYWORDS = frozenset({"default", "examples", "const", "enum"})  # data, not schemas: no $ref inside
# the formats the validator checks; any other would be an annotation nobody enforces
KNOWN_FORMATS = frozenset(
    {
        "date", "date-time", "time", "duration", "email", "idn-email", "hostname", "idn-hostname", "ipv4", "ipv6",
        "uri", "uri-reference", "iri", "iri-reference", "uri-template", "uuid", "json-pointer",
        "relative-json-pointer", "regex",
    }
)  # fmt: skip
_UNREADABLE: Any = object()  # not None: a file may hold JSON null


@dataclass(frozen=True, order=True)
class Problem:
    """One lint finding: the file, the JSON pointer inside it, and what is wrong."""

    file: str
    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}#{self.pointer}: {self.message}"


class CatalogError(SetupError):
    """The catalog does not lint; ``problems`` lists every finding, one line each in ``str()``."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"the catalog has {len(self.problems)} problem(s):\n{lines}")


@dataclass(frozen=True)
class CatalogEntry:
    """One event of the catalog, with its schemas resolved and its ``x-tchu`` metadata."""

    routing_key: str
    source: str
    schema: dict[str, Any]
    kind: Kind = "event"
    version: int | None = None
    owner: str | None = None
    deprecated: bool = False
    description: str | None = None
    response: dict[str, Any] | None = None
    examples: tuple[Any, ...] = ()
    compatibility: str | None = None
    digest: str = field(default="", compare=False)

    def event_schema(self) -> EventSchema:
        """The runtime catalog entry (validators compiled)."""
        return EventSchema(
            self.routing_key,
            self.schema,
            kind=self.kind,
            version=self.version,
            response=self.response,
            schema_id=self.source,
            owner=self.owner,
            deprecated=self.deprecated,
        )


def pointer(parts: Iterator[Any] | list[Any] | tuple[Any, ...]) -> str:
    """An RFC 6901 JSON pointer for a path of keys and indexes (``""`` for the document itself)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def load_catalog(root: str | Path, *, label: str | None = None) -> list[CatalogEntry]:
    """Lint and resolve every ``<routing_key>.json`` in ``root``, sorted by routing key.

    ``label`` is how files are named in problems and in ``CatalogEntry.source`` (default: the folder's name,
    as in ``schemas/user.created.json``).

    Raises:
        CatalogError: listing every problem of every file.
    """
    root = Path(root)
    label = label if label is not None else root.name
    if not root.is_dir():
        raise CatalogError([Problem(label, "", "catalog folder does not exist")])
    loader = _Loader(root, label)
    paths = sorted(p for p in root.glob("*.json") if p.name != ALLOW_FILE)
    if not paths:
        raise CatalogError([Problem(label, "", "no <routing_key>.json files: is this the catalog folder?")])
    for stray in sorted(p for p in root.rglob("*") if p.is_file() and _stray(root, p)):
        loader.problem(stray, "", f"not read: events are {label}/<routing_key>.json, shared schemas {DEFS_DIR}/*.json")
    entries = [e for path in paths if (e := loader.entry(path)) is not None]
    try:
        check_collisions(e.routing_key for e in entries)
    except SetupError as exc:
        loader.problems.append(Problem(label, "", str(exc)))
    if loader.problems:
        raise CatalogError(loader.problems)
    return sorted(entries, key=lambda e: e.routing_key)


class _Loader:
    def __init__(self, root: Path, label: str) -> None:
        self.root = root.resolve()
        self.label = label
        self.problems: list[Problem] = []
        self._docs: dict[Path, Any] = {}
        self._def_ok: dict[Path, bool] = {}
        self.unresolved = False  # a $ref of the current entry was left unresolved

    def name(self, path: Path) -> str:
        return f"{self.label}/{path.resolve().relative_to(self.root).as_posix()}"

    def problem(self, path: Path, ptr: str, message: str) -> None:
        self.problems.append(Problem(self.name(path), ptr, message))

    def read(self, path: Path) -> Any:
        path = path.resolve()
        if path not in self._docs:
            try:
                self._docs[path] = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                self.problem(path, "", f"not valid JSON: {exc}")
                self._docs[path] = _UNREADABLE
        return self._docs[path]

    def lint_def(self, path: Path, doc: Any) -> bool:
        """Check a referenced file against the metaschema and its formats once; problems name that file."""
        if path not in self._def_ok:
            before = len(self.problems)
            for error in _meta_errors(doc):
                self.problem(path, pointer(error.absolute_path), f"not valid JSON Schema 2020-12: {error.message}")
            self.formats(path, doc)
            self._def_ok[path] = len(self.problems) == before
        return self._def_ok[path]

    def entry(self, path: Path) -> CatalogEntry | None:
        key = path.stem
        before = len(self.problems)
        self.unresolved = False
        if "*" in key or "#" in key:
            self.problem(path, "", "a catalog file names one routing key: wildcards belong in subscriptions")
        elif not CATALOG_KEY.match(key):
            self.problem(path, "", "file name must be the routing key: lowercase words of [a-z0-9_] joined by '.'")
        doc = self.read(path)
        if doc is _UNREADABLE:
            return None
        if not isinstance(doc, dict):
            self.problem(path, "", "a schema file holds a JSON object")
            return None
        for error in _meta_errors(doc):
            self.problem(path, pointer(error.absolute_path), f"not valid JSON Schema 2020-12: {error.message}")
        self.root_rules(path, doc)
        self.formats(path, doc)
        meta = self.meta(path, doc.get(XTCHU, {}))
        body = {k: v for k, v in doc.items() if k != XTCHU}
        schema = _Bundle(self, path).resolve(body)
        response = None
        if isinstance(meta.get("response"), dict):
            response = _Bundle(self, path, base=f"/{XTCHU}/response", file_doc=doc).resolve(meta["response"])
        if len(self.problems) > before or self.unresolved:
            return None
        entry = CatalogEntry(
            routing_key=key,
            source=self.name(path),
            schema=schema,
            kind=meta.get("kind", "event"),
            version=meta.get("version"),
            owner=meta.get("owner"),
            deprecated=bool(meta.get("deprecated", False)),
            description=meta.get("description") or doc.get("description"),
            response=response,
            examples=tuple(doc.get("examples", ())),
            compatibility=meta.get("compatibility"),
        )
        entry = _with_digest(entry, meta)
        self.check_examples(path, entry)
        return entry if len(self.problems) == before else None

    def formats(self, path: Path, node: Any, ptr: str = "") -> None:
        """Every ``format`` must be one the validator checks."""
        if isinstance(node, list):
            for i, item in enumerate(node):
                self.formats(path, item, f"{ptr}/{i}")
        elif isinstance(node, dict):
            fmt = node.get("format")
            if isinstance(fmt, str) and fmt not in KNOWN_FORMATS:
                self.problem(
                    path,
                    f"{ptr}/format",
                    f"unknown format {fmt!r} would not be checked; use one of {sorted(KNOWN_FORMATS)}",
                )
            for key, value in node.items():
                if key not in INSTANCE_KEYWORDS:
                    self.formats(path, value, f"{ptr}/{pointer([key])[1:]}")

    def root_rules(self, path: Path, doc: dict[str, Any]) -> None:
        if doc.get("type") != "object":
            self.problem(path, "/type", 'an event payload is a JSON object: set "type": "object"')
        if doc.get("$schema", DRAFT) != DRAFT:
            self.problem(path, "/$schema", f"the catalog is JSON Schema 2020-12: set $schema to {DRAFT!r} or remove it")
        for combinator in ("oneOf", "anyOf"):
            if combinator in doc:
                self.problem(
                    path,
                    f"/{combinator}",
                    f"{combinator} at the root cannot become one typed publisher: put the alternatives in a property",
                )

    def meta(self, path: Path, meta: Any) -> dict[str, Any]:
        ptr = f"/{XTCHU}"
        if not isinstance(meta, dict):
            self.problem(path, ptr, "x-tchu must be an object")
            return {}
        for unknown in sorted(set(meta) - XTCHU_KEYS):
            self.problem(path, f"{ptr}/{unknown}", f"unknown x-tchu key; expected one of {sorted(XTCHU_KEYS)}")
        kind = meta.get("kind", "event")
        if kind not in {"event", "rpc"}:
            self.problem(path, f"{ptr}/kind", f"kind must be 'event' or 'rpc', got {kind!r}")
        if kind == "rpc" and not isinstance(meta.get("response"), dict):
            self.problem(path, f"{ptr}/response", "an rpc topic needs a response schema (an object)")
        if kind != "rpc" and "response" in meta:
            self.problem(path, f"{ptr}/response", "only rpc topics have a response; set kind to 'rpc'")
        version = meta.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
            self.problem(path, f"{ptr}/version", f"version must be an integer >= 1, got {version!r}")
        self.meta_fields(path, ptr, meta)
        return meta

    def meta_fields(self, path: Path, ptr: str, meta: dict[str, Any]) -> None:
        for name, typ in (("owner", str), ("description", str), ("deprecated", bool)):
            if name in meta and not isinstance(meta[name], typ):
                self.problem(path, f"{ptr}/{name}", f"{name} must be a {typ.__name__}")
        if "compatibility" in meta and meta["compatibility"] not in COMPAT_MODES:
            modes = ", ".join(COMPAT_MODES)
            self.problem(path, f"{ptr}/compatibility", f"{meta['compatibility']!r} is not a mode; use one of {modes}")
        if isinstance(meta.get("response"), dict):
            for error in _meta_errors(meta["response"]):
                where = f"{ptr}/response{pointer(error.absolute_path)}"
                self.problem(path, where, f"not valid JSON Schema 2020-12: {error.message}")

    def check_examples(self, path: Path, entry: CatalogEntry) -> None:
        try:
            compiled = entry.event_schema()
        except SetupError as exc:
            self.problem(path, "", str(exc))
            return
        for i, example in enumerate(entry.examples):
            try:
                compiled.validate(example)
            except PayloadValidationError as exc:
                for p in exc.problems:
                    self.problem(path, f"/examples/{i}", f"example does not validate: {p.path}: {p.message}")


class _Bundle:
    """Resolve the ``$ref`` of one document, embedding referenced files under its ``$defs``."""

    def __init__(self, loader: _Loader, path: Path, *, base: str = "", file_doc: Any = None) -> None:
        self.loader = loader
        self.path = path
        self.base = base
        self.file_doc = file_doc  # for a response: the event's file, whose root $defs its local refs may name
        self.defs: dict[str, Any] = {}
        self.keys: dict[Path, str] = {}

    def resolve(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(dict(doc))
        own = out.get("$defs", {})
        if isinstance(own, dict):
            self.defs.update(own)
        self.visit(out, self.path, "#", self.base, out)
        if self.defs:
            out["$defs"] = {**self.defs, **(own if isinstance(own, dict) else {})}
        return out

    def visit(self, node: Any, file: Path, prefix: str, ptr: str, doc: Any) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                self.visit(item, file, prefix, f"{ptr}/{i}", doc)
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str):
            node["$ref"] = self.rewrite(ref, file, prefix, f"{ptr}/$ref", doc)
        for key, value in node.items():
            if key != "$ref" and key not in INSTANCE_KEYWORDS:
                self.visit(value, file, prefix, f"{ptr}/{pointer([key])[1:]}", doc)

    def rewrite(self, ref: str, file: Path, prefix: str, ptr: str, doc: Any) -> str:  # noqa: PLR0911 -- one exit per way a $ref fails
        target, _, fragment = ref.partition("#")
        if fragment and not fragment.startswith("/"):
            self.loader.problem(file, ptr, f"$ref {ref!r}: only JSON-pointer fragments (#/...) are supported")
            return ref
        if not target:
            return self.local(ref, fragment, file, prefix, ptr=ptr, doc=doc)
        if "://" in target:
            self.loader.problem(
                file, ptr, f"$ref {ref!r}: remote references are not resolved; copy it into {DEFS_DIR}/"
            )
            return ref
        path = (file.parent / target).resolve()
        if not path.is_relative_to(self.loader.root) or not path.is_file():
            self.loader.problem(file, ptr, f"$ref {ref!r} does not resolve: no file {target!r} in the catalog")
            return ref
        target_doc = self.loader.read(path)
        if target_doc is _UNREADABLE:
            return ref
        if not isinstance(target_doc, dict):
            self.loader.problem(path, "", "a schema file holds a JSON object")
            return ref
        if not self.loader.lint_def(path, target_doc):
            self.loader.unresolved = True  # reported once, in that file
            return ref
        if resolve_pointer(target_doc, fragment) is None:
            self.loader.problem(file, ptr, f"$ref {ref!r} does not resolve: no {fragment!r} in {target!r}")
            return ref
        return f"#/$defs/{self.embed(path, target_doc)}{fragment}"

    def local(self, ref: str, fragment: str, file: Path, prefix: str, *, ptr: str, doc: Any) -> str:
        """A ``#/...`` reference: into this document, or, for a response, into its event file's root."""
        if resolve_pointer(doc, fragment) is not None:
            return prefix + fragment
        if self.file_doc is not None and file == self.path and resolve_pointer(self.file_doc, fragment) is not None:
            host = {k: v for k, v in self.file_doc.items() if k != XTCHU}
            return f"#/$defs/{self.embed(file, host)}{fragment}"
        self.loader.problem(file, ptr, f"$ref {ref!r} does not resolve in this file")
        return ref

    def embed(self, path: Path, target_doc: Any) -> str:
        if path in self.keys:
            return self.keys[path]
        title = target_doc.get("title") if isinstance(target_doc, dict) else None
        base = title if isinstance(title, str) and title.isidentifier() else pascal_name(path.stem)
        key, n = base, 1
        while key in self.defs:
            n += 1
            key = f"{base}{n}"
        self.keys[path] = key
        self.defs[key] = {}
        embedded = copy.deepcopy(target_doc)
        if isinstance(embedded, dict):
            for drop in ("$schema", "$id", "examples"):
                embedded.pop(drop, None)
        self.visit(embedded, path, f"#/$defs/{key}", "", embedded)
        self.defs[key] = embedded
        return key


def _stray(root: Path, path: Path) -> bool:
    """A schema-like file the catalog would silently ignore (nested folders, YAML)."""
    relative = path.relative_to(root)
    if relative.parts[0] == DEFS_DIR or path.name.startswith("."):
        return False
    return path.suffix in {".json", ".yaml", ".yml"} and (len(relative.parts) > 1 or path.suffix != ".json")


def resolve_pointer(doc: Any, fragment: str) -> Any:
    """The value at JSON pointer ``fragment`` (``/a/0/b``, as after ``#`` in a ``$ref``) in ``doc``; None if absent."""
    node = doc
    for raw in fragment.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def pascal_name(stem: str) -> str:
    """The name a ``_defs/`` file without a usable ``title`` is embedded under: ``order_item`` -> ``OrderItem``."""
    return "".join(w.capitalize() for w in stem.replace("-", "_").split("_") if w) or "Definition"


def _with_digest(entry: CatalogEntry, meta: Mapping[str, Any]) -> CatalogEntry:
    canonical = json.dumps(
        {"schema": entry.schema, "response": entry.response, XTCHU: {k: v for k, v in meta.items() if k != "response"}},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return CatalogEntry(**{**entry.__dict__, "digest": digest})
