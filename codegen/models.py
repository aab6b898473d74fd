"""Pydantic models for a whole catalog, from one datamodel-code-generator run.

Every event (and rpc reply) becomes a model; shared definitions from ``_defs/`` become one class each, used by
every event that references them. The parameters of the typed publishers are read back from the generated
classes, so a publisher's keyword arguments have exactly the model's annotations.
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
import json
import re
import warnings
from dataclasses import dataclass
from typing import Any

from tchu.catalog_files import CatalogEntry
from tchu.errors import SetupError
from tchu.naming import names_for

ROOT_CLASS = "TchuCatalogRoot"
_STRING_FORMATS = ("email", "idn-email", "uri", "uri-reference", "iri", "iri-reference", "hostname", "idn-hostname")


@dataclass(frozen=True)
class Field:
    """One model field as a publisher keyword argument."""

    name: str
    annotation: str
    required: bool
    default: str  # source of the default ("None" for optional fields without one)
    omit_when_none: bool


@dataclass(frozen=True)
class Models:
    """The generated models module, split into imports and body, and the fields of each top-level model."""

    imports: dict[str, set[str]]
    body: str
    fields: dict[str, list[Field]]


def combined_document(entries: list[CatalogEntry]) -> dict[str, Any]:
    """One JSON Schema whose ``$defs`` hold every event, every reply and every shared definition once."""
    combiner = _Combiner()
    documents = []
    for entry in entries:
        n = names_for(entry.routing_key)
        documents.append((n.model, entry.schema))
        if entry.response is not None:
            documents.append((n.response_model, entry.response))
    for model_name, _ in documents:  # event and reply models keep their names; shared definitions give way
        combiner.defs[model_name] = None
    for model_name, source in documents:
        combiner.add(model_name, source)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": combiner.defs}


class _Combiner:
    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}
        self.by_digest: dict[str, str] = {}

    def key_for(self, name: str, schema: Any) -> tuple[str, bool]:
        """The global name of a definition, shared by every document that embeds the same one."""
        digest = hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()
        if digest in self.by_digest:
            return self.by_digest[digest], False
        if name in self.defs:  # numbering it Money2 would silently change what 'Money' means to its users
            raise SetupError(
                f"two different definitions would both generate the class {name!r} (a title or $defs name shared "
                "by different schemas, or equal to an event's model name): give them distinct titles"
            )
        key = name
        self.by_digest[digest] = key
        self.defs[key] = None  # reserved; filled by add()
        return key, True

    def add(self, model_name: str, source: dict[str, Any]) -> None:
        doc = copy.deepcopy(source)
        local = doc.pop("$defs", {})
        placed = {name: self.key_for(name, schema) for name, schema in local.items()}
        renamed = {name: key for name, (key, _) in placed.items()}
        for name, (key, new) in placed.items():
            if new:
                shared = _strip(copy.deepcopy(local[name]))
                _rewrite_refs(shared, renamed, key)
                self.hoist(shared, key)
                self.defs[key] = shared
        _rewrite_refs(doc, renamed, model_name)
        self.hoist(doc, model_name)
        stripped = _strip(doc)
        stripped["title"] = model_name
        self.defs[model_name] = stripped

    def hoist(self, schema: Any, owner: str) -> None:
        """Move inline objects to ``$defs`` named after their owner and property (``UserUpdatedChanges``).

        datamodel-code-generator would name them after the property alone, numbered across the whole catalog
        (``Changes``, ``Changes1``), so adding an event could rename another event's nested model.
        """
        if not isinstance(schema, dict):
            return
        places: list[tuple[dict[str, Any], str, str]] = []
        for prop, sub in (schema.get("properties") or {}).items():
            places.append((schema["properties"], prop, owner + _pascal(prop)))
            if not isinstance(sub, dict):
                continue
            if isinstance(sub.get("items"), dict):
                places.append((sub, "items", owner + _pascal(prop) + "Item"))
            if isinstance(sub.get("additionalProperties"), dict):
                places.append((sub, "additionalProperties", owner + _pascal(prop) + "Value"))
            for i, pattern in enumerate(sub.get("patternProperties") or {}):
                suffix = "Value" if i == 0 else f"Value{i + 1}"
                places.append((sub["patternProperties"], pattern, owner + _pascal(prop) + suffix))
        for parent, key, wanted in places:
            sub = parent[key]
            if _named(sub, top=parent is schema.get("properties")):
                name = wanted
                while name in self.defs:
                    name += "_"
                self.defs[name] = None
                self.hoist(sub, name)
                self.defs[name] = _strip(sub)
                parent[key] = {"$ref": f"#/$defs/{name}"}


# Keywords that make datamodel-code-generator give an array item or a map value a type of its own.
_CONSTRAINTS = frozenset(
    {
        "minLength", "maxLength", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "multipleOf", "minItems", "maxItems", "enum", "const", "minProperties", "maxProperties",
    }
)  # fmt: skip


def _named(sub: Any, *, top: bool) -> bool:
    """Whether ``sub`` becomes a definition of its own, named after where it sits.

    Objects always do. A constrained array item or map value does too (``OrderCreatedTagsItem``, an
    ``Annotated`` alias), so it never takes a catalog-wide numbered name such as ``Code1``.
    """
    if not isinstance(sub, dict) or "$ref" in sub:
        return False
    if isinstance(sub.get("properties"), dict):
        return True
    return not top and not _CONSTRAINTS.isdisjoint(sub)


def _pascal(name: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in name.replace("-", "_").split("_") if w)


def _strip(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: v for k, v in schema.items() if k not in {"$schema", "$id", "examples"}}
    return schema


def _rewrite_refs(node: Any, renamed: dict[str, str], home: str) -> None:
    if isinstance(node, list):
        for item in node:
            _rewrite_refs(item, renamed, home)
    elif isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            parts = ref[1:].split("/")
            if len(parts) > 2 and parts[1] == "$defs" and parts[2] in renamed:  # noqa: PLR2004 -- "#/$defs/<name>"
                node["$ref"] = "#/$defs/" + "/".join([renamed[parts[2]], *parts[3:]])
            else:
                node["$ref"] = f"#/$defs/{home}{ref[1:]}"
        for key, value in node.items():
            if key != "$ref":
                _rewrite_refs(value, renamed, home)


def generate_models(entries: list[CatalogEntry]) -> Models:
    """Run datamodel-code-generator once over the catalog and parse what it wrote."""
    # heavy imports, only when generating
    from datamodel_code_generator import generate  # noqa: PLC0415
    from datamodel_code_generator.enums import DataModelType, InputFileType  # noqa: PLC0415
    from datamodel_code_generator.format import Formatter, PythonVersion  # noqa: PLC0415
    from datamodel_code_generator.parser import LiteralType  # noqa: PLC0415

    document = combined_document(entries)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its deprecation notices are about its CLI defaults, not these options
        source = generate(
            json.dumps(document),
            input_file_type=InputFileType.JsonSchema,
            output_model_type=DataModelType.PydanticV2BaseModel,
            target_python_version=PythonVersion.PY_311,
            class_name=ROOT_CLASS,
            disable_timestamp=True,
            use_standard_collections=True,
            use_union_operator=True,
            field_constraints=True,
            use_annotated=True,
            use_type_alias=True,
            use_schema_description=True,
            use_field_description=True,
            use_double_quotes=True,
            enum_field_as_literal=LiteralType.All,
            strict_nullable=True,  # a default is not a null
            collapse_root_models=True,  # a $ref to a string is a str, not a RootModel
            use_default_kwarg=True,  # Field(default=None): mypy sees the default
            type_mappings=[f"string+{fmt}=string" for fmt in _STRING_FORMATS],
            formatters=[Formatter.BUILTIN],
            custom_file_header="",
        )
    if not isinstance(source, str):
        raise TypeError(f"datamodel-code-generator returned {type(source).__name__}, expected source text")
    wanted = {names_for(e.routing_key).model for e in entries}
    wanted |= {names_for(e.routing_key).response_model for e in entries if e.response is not None}
    return _parse(source, wanted)


class _Source:
    """Generated source read back by node position, split into lines once (``ast.get_source_segment`` splits the
    whole text again on every call, which made reading a large catalog's models quadratic)."""

    def __init__(self, text: str) -> None:
        # the lines as the parser counts them: only \r\n, \r and \n end a line
        self.lines: list[str] = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z", text)

    def segment(self, node: ast.expr | ast.stmt, *, padded: bool = False) -> str | None:
        """What ``ast.get_source_segment(text, node, padded=padded)`` returns."""
        end_lineno, end_col = node.end_lineno, node.end_col_offset
        if end_lineno is None or end_col is None:
            return None
        first, last, col = node.lineno - 1, end_lineno - 1, node.col_offset
        if first == last:
            return self.lines[first].encode()[col:end_col].decode()
        head = self.lines[first].encode()
        padding = "".join(c if c in "\f\t" else " " for c in head[:col].decode()) if padded else ""
        middle = self.lines[first + 1 : last]
        return padding + head[col:].decode() + "".join(middle) + self.lines[last].encode()[:end_col].decode()


def _parse(text: str, wanted: set[str]) -> Models:
    tree = ast.parse(text)
    source = _Source(text)
    imports: dict[str, set[str]] = {}
    body: list[str] = []
    fields: dict[str, list[Field]] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module != "__future__":
                imports.setdefault(node.module, set()).update(
                    f"{a.name} as {a.asname}" if a.asname else a.name for a in node.names
                )
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a module docstring
        if ROOT_CLASS in _bound(node):
            continue
        segment = source.segment(node, padded=True)
        if segment is None:
            raise ValueError(f"cannot read back generated node {ast.dump(node)[:80]}")
        decorators = "".join(f"@{source.segment(d)}\n" for d in getattr(node, "decorator_list", []))
        body.append(decorators + segment)
        if isinstance(node, ast.ClassDef) and node.name in wanted:
            fields[node.name] = _fields(source, node)
    missing = wanted - set(fields)
    if missing:
        raise ValueError(f"datamodel-code-generator produced no class for {sorted(missing)}")
    text = "\n\n\n".join(body) + "\n"
    used = {node.id for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Name)}
    kept = {m: {n for n in names if bound_name(n) in used} for m, names in imports.items()}
    kept = {m: names for m, names in kept.items() if names}
    return Models(imports=kept, body=text, fields=fields)


def defined_names(body: str) -> frozenset[str]:
    """The classes and type aliases a generated models body defines (parsed once per body: every event module of
    a catalog asks)."""
    return _defined_names(body)


@functools.lru_cache(maxsize=4)
def _defined_names(body: str) -> frozenset[str]:
    return frozenset(name for node in ast.parse(body).body for name in _bound(node))


def _bound(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    return set()


def bound_name(imported: str) -> str:
    """The name an import binds: ``date_aliased`` for ``date as date_aliased``."""
    return imported.rsplit(" as ", 1)[-1]


def _fields(source: _Source, cls: ast.ClassDef) -> list[Field]:
    out = []
    for stmt in cls.body:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        name = stmt.target.id
        if name == "model_config":
            continue
        annotation = _plain(source.segment(stmt.annotation) or "Any")
        default = _default(source, stmt.value)
        if default is None:
            out.append(Field(name, annotation, required=True, default="", omit_when_none=False))
            continue
        nullable = "None" in annotation.replace("NoneType", "None").split(" | ")
        if _mutable(default):  # a shared list as a keyword default would leak between calls: the model fills it in
            default = "None"
        if default == "None" and not nullable:
            annotation += " | None"
        out.append(Field(name, annotation, required=False, default=default, omit_when_none=default == "None"))
    return out


def _plain(annotation: str) -> str:
    """``annotation`` with every ``Annotated[T, ...]`` replaced by ``T``: a keyword argument's type.

    The constraints stay on the model, which checks them; the signature shows what a caller passes.
    """
    while "Annotated[" in annotation:
        node = next(
            (
                n
                for n in ast.walk(ast.parse(annotation, mode="eval"))
                if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id == "Annotated"
            ),
            None,
        )
        if node is None or not isinstance(node.slice, ast.Tuple):
            break
        inner = _src(annotation, node.slice.elts[0])
        annotation = _replace(annotation, node, inner)
    return annotation


def _replace(text: str, node: ast.expr, new: str) -> str:
    """``text`` (one line) with the source of ``node`` replaced by ``new``."""
    if node.end_col_offset is None or node.lineno != node.end_lineno:
        raise ValueError(f"cannot rewrite annotation {text!r}")
    return text[: node.col_offset] + new + text[node.end_col_offset :]


def _mutable(default: str) -> bool:
    """Whether a default's source builds a list, dict, set or object (anything but a constant)."""
    node = ast.parse(default, mode="eval").body
    return not isinstance(node, ast.Constant | ast.Name | ast.Attribute | ast.UnaryOp | ast.Tuple)


def _default(source: _Source, value: ast.expr | None) -> str | None:
    """Source of the default value, ``None`` when the field is required."""
    if value is None:
        return None
    if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "Field":
        if value.args:
            first = value.args[0]
            return None if isinstance(first, ast.Constant) and first.value is Ellipsis else _src(source, first)
        for kw in value.keywords:
            if kw.arg == "default":
                return _src(source, kw.value)
            if kw.arg == "default_factory":
                return "None"
        return None
    return _src(source, value)


def _src(source: _Source | str, node: ast.expr) -> str:
    text = source.segment(node) if isinstance(source, _Source) else ast.get_source_segment(source, node)
    if text is None:
        raise ValueError(f"cannot read back generated expression {ast.dump(node)[:80]}")
    return text
