"""``python -m codegen compat``: refuse catalog changes that would break a consumer or a producer.

The catalog is compared with a baseline (a git ref, read with ``git ls-tree``/``git cat-file`` into a temporary
folder, or a catalog folder used as is), event by event, through the same loader as ``python -m codegen``
(:func:`tchu.catalog_files.load_catalog`), so ``$ref`` into ``_defs/`` is compared as resolved.

Directions, from JSON Schema semantics (an event is data written by its owner and read by its consumers):

- ``backward``: new readers read old data. Every instance valid under the old schema must be valid under the
  new one, so a change that makes the schema accept less (narrowing) breaks backward.
- ``forward``: old readers read new data. Every instance valid under the new schema must be valid under the old
  one, so a change that makes the schema accept more (widening) breaks forward.
- ``full`` is both; ``none`` checks nothing. ``*_transitive`` compare against every earlier state too (below).

The mode is ``--mode`` (default ``full``) unless the event's ``x-tchu.compatibility`` says otherwise. For an rpc
topic the request follows the event rules; its ``response`` is written by the responder and read by the caller,
so its directions are reversed: a reply that accepts more breaks ``backward`` (a new responder's replies may
fail old callers) and a reply that accepts less breaks ``forward``.

Properties and content models. The schema a property name gets is its ``properties`` entry, else the matching
``patternProperties``, else ``additionalProperties`` (absent means any value). Adding or removing a property
compares the old and the new schema of that name:

- closed model (``additionalProperties: false``): old data never carries an unknown name, so adding an optional
  property is backward compatible; old readers reject the new field, so it breaks forward. Removing a property
  breaks backward (old data carrying it is rejected) and, when it was required, forward too.
- open model: old data may already carry the new name with any value, so a new property with any constraint
  (a ``type``) breaks backward; old readers accept any value under that name, so it is forward compatible. A
  property removed from an open model is backward compatible (the new reader accepts anything there) and
  breaks forward when its old schema constrained the value (new writers may put any value under that name).

Rules (``backward`` = narrows, ``forward`` = widens, ``both``):

- ``event-removed``, ``kind-changed``, ``version-decreased``: both.
- ``property-removed``, ``property-added``, ``property-renamed``: by content model, as above.
- ``property-now-required``: backward; ``property-no-longer-required``: forward.
- ``additional-properties-closed``: backward; ``additional-properties-opened``: forward.
- ``type-narrowed``: backward; ``type-widened``: forward; ``type-changed``: both (``integer`` is a ``number``).
- ``enum-value-removed``, ``enum-added``: backward; ``enum-value-added``, ``enum-removed``: forward.
- ``const-changed``, ``pattern-changed``, ``format-changed``, ``multiple-of-changed``, ``unique-items-changed``:
  backward when the keyword is added or tightened, forward when removed or loosened, both when it changed to
  something neither contains.
- ``bound-tightened`` (``minimum``, ``exclusiveMaximum``, ``minLength``, ``maxItems``, ...): backward;
  ``bound-loosened``: forward.
- ``branch-removed``/``branch-added`` of ``anyOf``/``oneOf``: backward/forward (``allOf``: the reverse);
  ``combinator-added``: backward, ``combinator-removed``: forward. A changed, added or removed ``oneOf`` branch
  that cannot be shown disjoint from the others (by type, by value, or by a required discriminator property)
  breaks both: an instance matching two branches is invalid.
- ``schema-closed`` (a schema became ``false``): backward; ``schema-opened``: forward.
- ``unsupported-keyword``: both. Any other keyword (``not``, ``if``/``then``/``else``, ``dependentSchemas``,
  ``dependentRequired``, ``patternProperties``, ``prefixItems``, ``contains``, ``propertyNames``,
  ``unevaluated*``, ``$dynamicRef``, ...) that changed cannot be reasoned about, so it is reported as breaking.

Arrays (``items``), nested objects and ``$ref`` targets are compared recursively; a change inside a ``_defs``
file is reported against every event that uses it, with a pointer through the reference:
``/properties/total -> _defs/money.json#/properties/amount/minimum``. Pointers name the new schema, or the
old one for what was removed.

An intentional break passes when either

- the event's ``x-tchu.version`` is higher than the baseline's (absent counts as 1): reported as
  ``allowed: version bump 1 -> 2``. Nothing else changes at runtime: the broker carries one schema per routing
  key, and publishers stamp the version in the ``tchu_schema_version`` header (``current_event().schema_version``
  in a handler). The finding's directions say how to roll out: a forward break needs every consumer on the new
  schema before the owner publishes the new shape; a backward break needs the owner first, and consumers once
  queued old events are handled; a break in both directions cannot be rolled out in place: publish the new
  shape under a new routing key next to the old one and remove the old one (an allow-listed
  ``event-removed``) when its consumers have moved;
- or an allow-list entry matches (``schemas/compat-allow.json`` or ``--allow FILE``)::

    {"allow": [{"routing_key": "user.created", "rule": "property-removed", "pointer": "/properties/nickname",
                "reason": "nobody reads nickname since 2024-05 (PLAT-123)"}]}

  ``pointer`` is optional (an entry covers that pointer and everything below it); ``reason`` must be non-empty.

Transitive modes with a git ref also compare against the earlier states of each event: the catalog at each of
the last :data:`HISTORY_LIMIT` commits that touched the catalog folder (``git log``, reachable from the ref),
newest first, back to the first state whose ``x-tchu.version`` differs from the ref's (a version bump starts a
new line, and breaks across it are allowed anyway). A state whose catalog does not lint is skipped, with a note.
With a folder baseline there is no history: transitive modes are the non-transitive ones.

Impact: each finding names the event's owner and the services that read and write it, found by a static scan of
the code (:mod:`codegen.consumers`); for a reply, readers are the callers and the writer the responder.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from codegen.consumers import CodeMap, discover
from tchu.catalog_files import (
    ALLOW_FILE,
    COMPAT_MODES,
    DEFS_DIR,
    XTCHU,
    CatalogEntry,
    CatalogError,
    load_catalog,
    pascal_name,
    pointer,
    resolve_pointer,
)
from tchu.errors import SetupError

BACKWARD = "backward"
FORWARD = "forward"
NARROWS = frozenset({BACKWARD})  # the new schema accepts less: old data may fail new readers
WIDENS = frozenset({FORWARD})  # the new schema accepts more: new data may fail old readers
BOTH = NARROWS | WIDENS
NONE: frozenset[str] = frozenset()
MODES = COMPAT_MODES
CHECKS = {"backward": NARROWS, "forward": WIDENS, "full": BOTH, "none": NONE}
HISTORY_LIMIT = 20
RULES = frozenset(
    {
        "event-removed", "kind-changed", "version-decreased", "property-removed", "property-added",
        "property-renamed", "property-now-required", "property-no-longer-required", "additional-properties-closed",
        "additional-properties-opened", "type-narrowed", "type-widened", "type-changed", "enum-value-removed",
        "enum-value-added", "enum-added", "enum-removed", "const-changed", "bound-tightened", "bound-loosened",
        "multiple-of-changed", "pattern-changed", "format-changed", "unique-items-changed", "branch-removed",
        "branch-added", "combinator-added", "combinator-removed", "schema-closed", "schema-opened",
        "unsupported-keyword",
    }
)  # fmt: skip
EXPLAIN = {
    (False, BACKWARD): "events written under the old schema (queued, retried, replayed) may be rejected by "
    "consumers built from the new one",
    (False, FORWARD): "events written under the new schema may be rejected by consumers still built from the old one",
    (True, BACKWARD): "replies of a responder on the new schema may be rejected by callers still on the old one",
    (True, FORWARD): "replies of a responder still on the old schema may be rejected by callers on the new one",
}
ROLLOUT = {
    WIDENS: "upgrade every consumer before the owner publishes the new shape",
    NARROWS: "upgrade the owner first, then consumers once queued old events are handled",
    BOTH: "not in place: publish the new shape under a new routing key and retire the old one",
}

_ANNOTATIONS = frozenset(
    {
        "title", "description", "default", "examples", "$comment", "deprecated", "readOnly", "writeOnly",
        "contentMediaType", "contentEncoding", "contentSchema", "$schema", "$id", "$anchor", "$dynamicAnchor",
        "$defs", "definitions", "$vocabulary",
    }
)  # fmt: skip
_HANDLED = frozenset(
    {
        "$ref", "type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minLength", "maxLength", "pattern", "format", "items", "minItems", "maxItems", "uniqueItems",
        "properties", "required", "additionalProperties", "minProperties", "maxProperties", "anyOf", "oneOf",
        "allOf",
    }
)  # fmt: skip
_COUNTS = (
    ("minLength", False), ("maxLength", True), ("minItems", False), ("maxItems", True),
    ("minProperties", False), ("maxProperties", True),
)  # fmt: skip
_COMBINATORS = ("anyOf", "oneOf", "allOf")
_STRUCTURAL = {  # rules about the catalog rather than instances
    "event-removed": "its subscribers and publishers lose its schema and generated functions",
    "kind-changed": "events and rpc calls travel differently: every reader and writer must change at once",
    "version-decreased": "the tchu_schema_version header would go back: versions only grow",
}
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas", "$defs"})
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SCHEMA_ONE = frozenset(
    {"items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
     "unevaluatedItems", "unevaluatedProperties"}
)  # fmt: skip
_ALL_TYPES = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})


@dataclass(frozen=True)
class Change:
    """One difference between two schemas and the directions it breaks (``breaks`` is empty for none).

    ``reply`` marks a change in an rpc topic's response: its ``breaks`` are already reversed.
    """

    rule: str
    pointer: str
    old: Any
    new: Any
    breaks: frozenset[str]
    message: str
    reply: bool = False


def compare_schemas(
    old: Any, new: Any, *, old_labels: Mapping[str, str] | None = None, new_labels: Mapping[str, str] | None = None
) -> list[Change]:
    """The breaking-relevant differences between two resolved schemas (``$ref`` point into their ``$defs``).

    ``*_labels`` name the ``_defs`` file of each ``$defs`` key, for pointers through references.

    Example:
        >>> [c.rule for c in compare_schemas({"type": "integer"}, {"type": "number"})]
        ['type-widened']
    """
    return _Diff(old, new, old_labels or {}, new_labels or {}).node(old, new, "")


def compare_entries(
    old: CatalogEntry, new: CatalogEntry, *, old_labels: Mapping[str, str] | None = None,
    new_labels: Mapping[str, str] | None = None,
) -> list[Change]:  # fmt: skip
    """:func:`compare_schemas` for one event, with its rpc response reversed and its ``x-tchu`` checked."""
    labels = {"old_labels": old_labels, "new_labels": new_labels}
    out: list[Change] = []
    if old.kind != new.kind:
        out.append(Change("kind-changed", f"/{XTCHU}/kind", old.kind, new.kind, BOTH, "kind changed"))
    if (new.version or 1) < (old.version or 1):
        message = "x-tchu.version went down"
        out.append(Change("version-decreased", f"/{XTCHU}/version", old.version, new.version, BOTH, message))
    out.extend(compare_schemas(old.schema, new.schema, **labels))
    if old.response is not None and new.response is not None:
        for change in compare_schemas(old.response, new.response, **labels):
            breaks = frozenset({FORWARD if d == BACKWARD else BACKWARD for d in change.breaks})
            where = f"/{XTCHU}/response{change.pointer}"
            out.append(replace(change, pointer=where, breaks=breaks, reply=True))
    return out


class _Diff:
    """Compares two schema trees node by node; ``old_root``/``new_root`` resolve their ``$ref``."""

    def __init__(
        self, old_root: Any, new_root: Any, old_labels: Mapping[str, str], new_labels: Mapping[str, str]
    ) -> None:
        self.roots = (old_root, new_root)
        self.labels = (old_labels, new_labels)
        self.active: set[tuple[str, str]] = set()

    def node(self, o: Any, n: Any, ptr: str) -> list[Change]:
        o, n = ({} if o is True else o), ({} if n is True else n)
        if o is False or n is False:
            return _nothing(o, n, ptr)
        if not isinstance(o, dict) or not isinstance(n, dict) or (o == n and not _has_ref(o)):
            return []
        if "$ref" in o or "$ref" in n:
            return self.refs(o, n, ptr)
        lifted = self.lift(o, n, ptr)
        if lifted is not None:
            return lifted
        return [
            *self.unsupported(o, n, ptr),
            *self.types(o, n, ptr),
            *self.values(o, n, ptr),
            *self.numbers(o, n, ptr),
            *self.strings(o, n, ptr),
            *self.arrays(o, n, ptr),
            *self.objects(o, n, ptr),
            *self.combinators(o, n, ptr),
        ]

    # --- references -----------------------------------------------------------------------------------------

    def refs(self, o: dict[str, Any], n: dict[str, Any], ptr: str) -> list[Change]:
        ro, rn = o.get("$ref"), n.get("$ref")
        key = (str(ro), str(rn))
        if key in self.active:  # a recursive definition already being compared on this path
            return []
        self.active.add(key)
        try:
            if isinstance(ro, str) and isinstance(rn, str):
                siblings = self.node(_drop(o, "$ref"), _drop(n, "$ref"), ptr)
                target = self.node(self.target(0, ro), self.target(1, rn), self.hop(ptr, rn))
                return siblings + target
            return self.node(self.inline(0, o), self.inline(1, n), ptr)
        finally:
            self.active.discard(key)

    def target(self, side: int, ref: str) -> Any:
        found = _resolve(self.roots[side], ref)
        return {"$dynamicRef": ref} if found is None else found  # unresolvable: compared as an unknown keyword

    def inline(self, side: int, node: dict[str, Any]) -> Any:
        """``node`` with its ``$ref`` replaced by the target (next to any sibling assertions, as ``allOf``)."""
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return node
        siblings = _drop(node, "$ref")
        target = self.target(side, ref)
        return target if not _assertions(siblings) else {"allOf": [siblings, target]}

    def hop(self, ptr: str, ref: str) -> str:
        """``ptr`` continued through ``ref``, naming the ``_defs`` file when the key is one."""
        labels = {**self.labels[0], **self.labels[1]}
        _, _, key = ref.partition("#/$defs/")
        name, slash, rest = key.partition("/")
        if name in labels:
            return f"{ptr} -> {labels[name]}#{slash}{rest}"
        return f"{ptr} -> {ref}"

    # --- keywords ---------------------------------------------------------------------------------------------

    def unsupported(self, o: dict[str, Any], n: dict[str, Any], ptr: str) -> Iterator[Change]:
        for kw in sorted(set(o) | set(n)):
            if kw in _HANDLED or _is_annotation(kw):
                continue
            if self.canon(0, {kw: o.get(kw)}) != self.canon(1, {kw: n.get(kw)}):
                message = f"{kw!r} changed and cannot be reasoned about: treated as breaking both ways"
                yield Change("unsupported-keyword", f"{ptr}/{kw}", o.get(kw), n.get(kw), BOTH, message)

    def types(self, o: dict[str, Any], n: dict[str, Any], ptr: str) -> Iterator[Change]:
        if _values(o) is not None and _values(n) is not None:
            return  # the allowed values decide, and are compared by values()
        to, tn = _types(o), _types(n)
        if to == tn:
            return
        narrowed = sorted(t for t in (to or _ALL_TYPES) if not _covers(tn or _ALL_TYPES, t))
        widened = sorted(t for t in (tn or _ALL_TYPES) if not _covers(to or _ALL_TYPES, t))
        where, old, new = f"{ptr}/type", o.get("type"), n.get("type")
        if narrowed and widened:
            yield Change("type-changed", where, old, new, BOTH, f"types {narrowed} dropped, {widened} added")
        elif narrowed:
            yield Change("type-narrowed", where, old, new, NARROWS, f"types {narrowed} no longer accepted")
        elif widened:
            yield Change("type-widened", where, old, new, WIDENS, f"types {widened} now accepted")

    def values(self, o: dict[str, Any], n: dict[str, Any], ptr: str) -> Iterator[Change]:
        vo, vn = _values(o), _values(n)
        if vo is None and vn is None:
            return
        const = "const" in o or "const" in n
        where = f"{ptr}/const" if const else f"{ptr}/enum"
        old, new = o.get("const", o.get("enum")), n.get("const", n.get("enum"))
        if vo is None or vn is None:
            breaks = NARROWS if vo is None else WIDENS
            rule = "const-changed" if const else ("enum-added" if vo is None else "enum-removed")
            message = "the allowed values are now restricted" if vo is None else "any value is now allowed"
            yield Change(rule, where, old, new, breaks, message)
            return
        removed = [vo[k] for k in sorted(vo.keys() - vn.keys())]
        added = [vn[k] for k in sorted(vn.keys() - vo.keys())]
        if const and (removed or added):
            breaks = (NARROWS if removed else NONE) | (WIDENS if added else NONE)
            yield Change("const-changed", where, old, new, breaks, "the constant changed")
            return
        if removed:
            yield Change("enum-value-removed", where, old, new, NARROWS, f"values {_short(removed)} removed")
        if added:
            yield Change("enum-value-added", where, old, new, WIDENS, f"values {_short(added)} added")

    def numbers(self, o: dict[str, Any], n: dict[str, Any], ptr: str) -> Iterator[Change]:
        for upper in (False, True):
            bo, bn = _bound(o, upper=upper), _bound(n, upper=upper)
            if bo == bn:
                continue
            tighter = bo is None or (bn is not None and (bn[0] < bo[0] if upper else bn[0] > bo[0]))
            kw = bn[1] if bn is not None else bo[1] if bo is not None else ""
            old = None if bo is None else {bo[1]: o[bo[1]]}
            new = None if bn is None else {bn[1]: n[bn[1]]}
            yield _bound_change(f"{ptr}/{kw}", old, new, tighter=tighter)
        for kw, is_max in _COUNTS:
            co, cn = o.get(kw), n.get(kw)
            absent = float("inf") if is_max else 0  # no maxLength is no limit; no minLength is 0
            eo, en = absent if co is None else co, absent if cn is None else cn
            if eo != en:
                yield _bound_change(f"{ptr}/{kw}", co, cn, tighter=en < eo if is_max else en > eo)
        mo, mn = o.get("multipleOf"), n.get("multipleOf")
        if mo != mn:
            yield Change("multiple-of-changed", f"{ptr}/multipleOf", mo, mn, _multiple(mo, mn), "multipleOf changed")

    def strings(self, o: dict[str, Any], n: dict[str, Any], ptr: str) -> Iterator[Change]:
        for kw in ("pattern", "format"):
            vo, vn = o.get(kw), n.get(kw)
            if vo != vn:
                breaks = NARROWS if vo is None else WIDENS if vn is None else BOTH
                yield Change(f"{kw}-changed", f"{ptr}/{kw}", vo, vn, breaks, f"{kw} changed")

    def arrays(self, o: dict[str, Any], n: dict[str, Any], ptr: str) -> list[Change]:
        out = self.node(o.get("items", True), n.get("items", True), f"{ptr}/items")
        uo, un = bool(o.get("uniqueItems")), bool(n.get("uniqueItems"))
        if uo != un:
            breaks = NARROWS if un else WIDENS
            out.append(Change("unique-items-changed", f"{ptr}/uniqueItems", uo, un, breaks, "uniqueItems changed"))
        return out

    def objects(self, o: dict[str, Any], n: dict[str, Any], ptr: str) -> list[Change]:
        po, pn = _props(o), _props(n)
        ro, rn = set(o.get("required", [])), set(n.get("required", []))
        out: list[Change] = []
        for name in sorted(po.keys() & pn.keys()):
            out += self.node(po[name], pn[name], f"{ptr}/properties{pointer([name])}")
        gone = {
            name: _breaks(self.node(po[name], _schema_of(n, name), "")) | (WIDENS if name in ro - rn else NONE)
            for name in sorted(po.keys() - pn.keys())
        }
        came = {
            name: _breaks(self.node(_schema_of(o, name), pn[name], "")) | (NARROWS if name in rn - ro else NONE)
            for name in sorted(pn.keys() - po.keys())
        }
        handled = set(gone) | set(came)
        for old_name, breaks in list(gone.items()):
            new_name = next((a for a in came if self.canon(0, po[old_name]) == self.canon(1, pn[a])), None)
            if new_name is not None and (breaks or came[new_name]):
                both = breaks | came.pop(new_name)
                del gone[old_name]
                message = f"{old_name!r} renamed to {new_name!r}"
                out.append(Change("property-renamed", f"{ptr}/properties{pointer([new_name])}", old_name, new_name,
                                  both, message))  # fmt: skip
        for k, b in gone.items():
            message = f"property {k!r} removed, leaving {_model(n, k)}"
            out += [Change("property-removed", f"{ptr}/properties{pointer([k])}", po[k], None, b, message)] if b else []
        for k, b in came.items():
            message = f"property {k!r} added to {_model(o, k)}"
            out += [Change("property-added", f"{ptr}/properties{pointer([k])}", None, pn[k], b, message)] if b else []
        for name in sorted(rn - ro - handled):
            where = f"{ptr}/properties{pointer([name])}"
            message = f"{name!r} is now required"
            out.append(Change("property-now-required", where, "optional", "required", NARROWS, message))
        for name in sorted(ro - rn - handled):
            where = f"{ptr}/properties{pointer([name])}"
            message = f"{name!r} is no longer required"
            out.append(Change("property-no-longer-required", where, "required", "optional", WIDENS, message))
        ao, an = o.get("additionalProperties", True), n.get("additionalProperties", True)
        where = f"{ptr}/additionalProperties"
        if ao is False and an is not False:
            out.append(Change("additional-properties-opened", where, ao, an, WIDENS, "unknown fields now accepted"))
        elif an is False and ao is not False:
            out.append(Change("additional-properties-closed", where, ao, an, NARROWS, "unknown fields now rejected"))
        else:
            out += self.node(ao, an, where)
        return out

    def combinators(self, o: dict[str, Any], n: dict[str, Any], ptr: str) -> list[Change]:
        out: list[Change] = []
        for comb in _COMBINATORS:
            bo, bn = o.get(comb), n.get(comb)
            if bo is None and bn is None:
                continue
            if bo is None or bn is None:
                narrows = bo is None
                rule = "combinator-added" if narrows else "combinator-removed"
                message = f"{comb} {'added' if narrows else 'removed'}"
                out.append(Change(rule, f"{ptr}/{comb}", bo, bn, NARROWS if narrows else WIDENS, message))
            else:
                out += self.branches(comb, bo, bn, ptr)
        return out

    def lift(self, o: dict[str, Any], n: dict[str, Any], ptr: str) -> list[Change] | None:
        """A plain schema against an ``anyOf``/``oneOf`` of alternatives: compared as one branch of it."""
        for comb in ("anyOf", "oneOf"):
            if comb in n and not _combinators(o) and set(_assertions(n)) == {comb}:
                return self.branches(comb, [o], n[comb], ptr)
            if comb in o and not _combinators(n) and set(_assertions(o)) == {comb}:
                return self.branches(comb, o[comb], [n], ptr)
        return None

    def branches(self, comb: str, bo: list[Any], bn: list[Any], ptr: str) -> list[Change]:
        keys_o, keys_n = [self.canon(0, b) for b in bo], [self.canon(1, b) for b in bn]
        left_o, left_n = list(range(len(bo))), list(range(len(bn)))
        for i, key in enumerate(keys_o):
            j = next((j for j in left_n if keys_n[j] == key), None)
            if j is not None:
                left_o.remove(i)
                left_n.remove(j)
        one = comb == "oneOf"
        out: list[Change] = []
        if len(left_o) == len(left_n):
            for i, j in zip(left_o, left_n, strict=True):
                sub = self.node(bo[i], bn[j], f"{ptr}/{comb}/{j}")
                if one and not (self.apart(0, bo, i) and self.apart(1, bn, j)):
                    sub = [replace(c, breaks=BOTH, message=f"{c.message} (oneOf branches may overlap)") for c in sub]
                out += sub
            return out
        removing, adding = (WIDENS, NARROWS) if comb == "allOf" else (NARROWS, WIDENS)
        for i in left_o:
            breaks = removing if not one or self.apart(0, bo, i) else BOTH
            out.append(Change("branch-removed", f"{ptr}/{comb}/{i}", bo[i], None, breaks, f"{comb} branch removed"))
        for j in left_n:
            breaks = adding if not one or self.apart(1, bn, j) else BOTH
            out.append(Change("branch-added", f"{ptr}/{comb}/{j}", None, bn[j], breaks, f"{comb} branch added"))
        return out

    # --- helpers ----------------------------------------------------------------------------------------------

    def apart(self, side: int, branches: list[Any], index: int) -> bool:
        """Whether branch ``index`` provably shares no instance with the other branches."""
        mine = self.deref(side, branches[index])
        return all(_disjoint(mine, self.deref(side, b)) for k, b in enumerate(branches) if k != index)

    def deref(self, side: int, node: Any) -> Any:
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"] not in seen:
            seen.add(node["$ref"])
            node = self.inline(side, node)
        return node

    def canon(self, side: int, node: Any) -> str:
        """A comparable form of a schema: references inlined, annotations dropped."""
        return _canon(_normal(node, self.roots[side], frozenset()))


def _nothing(o: Any, n: Any, ptr: str) -> list[Change]:
    """Changes to or from the schema ``false``, which accepts nothing."""
    if o is n:
        return []
    if o is False:
        return [Change("schema-opened", ptr, old=False, new=n, breaks=WIDENS, message="it accepted nothing before")]
    return [Change("schema-closed", ptr, old=o, new=False, breaks=NARROWS, message="it accepts nothing now")]


def _normal(node: Any, root: Any, stack: frozenset[str]) -> Any:
    if isinstance(node, list):
        return [_normal(x, root, stack) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if _is_annotation(key):
            continue
        if key == "$ref" and isinstance(value, str):
            target = _resolve(root, value)
            out[key] = value if target is None or value in stack else _normal(target, root, stack | {value})
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _normal(s, root, stack) for name, s in value.items()}
        elif key in _SCHEMA_LISTS or key in _SCHEMA_ONE:
            out[key] = _normal(value, root, stack)
        else:
            out[key] = value
    if set(out) == {"$ref"} and isinstance(out["$ref"], dict):
        return out["$ref"]
    return out


def _canon(value: Any) -> str:
    return json.dumps(_json_number(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _json_number(value: Any) -> Any:
    """JSON Schema compares ``1`` and ``1.0`` as equal."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_json_number(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_number(v) for k, v in value.items()}
    return value


def _resolve(root: Any, ref: str) -> Any:
    return resolve_pointer(root, ref[1:]) if ref.startswith("#") else None


def _has_ref(node: Any) -> bool:
    return '"$ref"' in json.dumps(node) or '"$dynamicRef"' in json.dumps(node)


def _is_annotation(keyword: str) -> bool:
    return keyword in _ANNOTATIONS or keyword.startswith("x-")


def _assertions(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if not _is_annotation(k)}


def _combinators(node: dict[str, Any]) -> bool:
    return any(c in node for c in _COMBINATORS)


def _drop(node: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k != key}


def _props(node: dict[str, Any]) -> dict[str, Any]:
    props = node.get("properties", {})
    return props if isinstance(props, dict) else {}


def _schema_of(node: dict[str, Any], name: str) -> Any:
    """The schema an object ``node`` applies to a property ``name``."""
    if name in _props(node):
        return _props(node)[name]
    for regex, schema in (node.get("patternProperties") or {}).items():
        try:
            if re.search(regex, name):
                return schema
        except re.error:
            continue
    return node.get("additionalProperties", True)


def _model(node: dict[str, Any], name: str) -> str:
    """How an object ``node`` treats a property ``name`` it does not declare."""
    schema = _schema_of(node, name)
    if schema is False:
        return "a closed model (additionalProperties: false)"
    return "an open model" if schema in ({}, True) else "a model whose other properties are constrained"


def _breaks(changes: list[Change]) -> frozenset[str]:
    return NONE.union(*(c.breaks for c in changes))


def _values(node: Any) -> dict[str, Any] | None:
    """The allowed values of ``node`` by canonical form, or None when ``enum``/``const`` do not restrict it."""
    if not isinstance(node, dict):
        return None
    sets = []
    if "const" in node:
        sets.append({_canon(node["const"]): node["const"]})
    if isinstance(node.get("enum"), list):
        sets.append({_canon(v): v for v in node["enum"]})
    if not sets:
        return None
    keys = set(sets[0]).intersection(*sets[1:])
    return {k: sets[0][k] for k in sorted(keys)}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else "array" if isinstance(value, list) else "object"


def _types(node: dict[str, Any]) -> frozenset[str] | None:
    """The JSON types ``node`` accepts (None: any), narrowed by its allowed values."""
    declared = node.get("type")
    types = None if declared is None else frozenset([declared] if isinstance(declared, str) else declared)
    values = _values(node)
    if values is not None:
        inferred = frozenset(_json_type(v) for v in values.values())
        types = inferred if types is None else frozenset(t for t in inferred if _covers(types, t))
    return types


def _covers(types: frozenset[str], t: str) -> bool:
    return t in types or (t == "integer" and "number" in types)


def _overlap(a: frozenset[str], b: frozenset[str]) -> bool:
    return any(_covers(b, t) or (t == "number" and "integer" in b) for t in a)


def _disjoint(a: Any, b: Any) -> bool:
    if a is False or b is False:
        return True
    if not isinstance(a, dict) or not isinstance(b, dict):
        return False
    ta, tb = _types(a), _types(b)
    if ta is not None and tb is not None and not _overlap(ta, tb):
        return True
    va, vb = _values(a), _values(b)
    if va is not None and vb is not None and not va.keys() & vb.keys():
        return True
    shared = set(a.get("required", [])) & set(b.get("required", [])) & _props(a).keys() & _props(b).keys()
    for name in shared:
        xa, xb = _values(_props(a)[name]), _values(_props(b)[name])
        if xa is not None and xb is not None and not xa.keys() & xb.keys():
            return True
    return False


def _bound(node: dict[str, Any], *, upper: bool) -> tuple[tuple[float, int], str] | None:
    """The tightest numeric bound as ``((value, strictness order), keyword)``; a smaller key is tighter above."""
    names = (("maximum", 1), ("exclusiveMaximum", 0)) if upper else (("minimum", 0), ("exclusiveMinimum", 1))
    found = [
        ((float(node[kw]), order), kw)
        for kw, order in names
        if isinstance(node.get(kw), int | float) and not isinstance(node.get(kw), bool)
    ]
    if not found:
        return None
    return min(found) if upper else max(found)


def _bound_change(where: str, old: Any, new: Any, *, tighter: bool) -> Change:
    if tighter:
        return Change("bound-tightened", where, old, new, NARROWS, "bound tightened")
    return Change("bound-loosened", where, old, new, WIDENS, "bound loosened")


def _multiple(old: Any, new: Any) -> frozenset[str]:
    if old is None:
        return NARROWS
    if new is None:
        return WIDENS
    ratio = Fraction(str(new)) / Fraction(str(old))
    if ratio.denominator == 1:
        return NARROWS  # every multiple of new is a multiple of old
    if ratio.numerator == 1:
        return WIDENS
    return BOTH


def _short(value: Any, limit: int = 80) -> str:
    text = "-" if value is None else _canon(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- catalogs and baselines ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    """A loaded catalog: entries by routing key, ``x-tchu.compatibility`` overrides, ``$defs`` key labels."""

    label: str
    entries: Mapping[str, CatalogEntry]
    modes: Mapping[str, str]
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Baseline:
    """What the catalog is compared with; ``history`` holds earlier states per event, newest first."""

    label: str
    catalog: Catalog
    history: Mapping[str, tuple[tuple[str, CatalogEntry], ...]]
    notes: tuple[str, ...] = ()


def read_catalog(folder: Path, *, label: str) -> Catalog:
    """Load ``folder`` with :func:`load_catalog` (which skips ``compat-allow.json`` and checks each event's
    ``x-tchu.compatibility``).

    Raises:
        SetupError: the folder does not exist.
        CatalogError: the catalog does not lint.
    """
    if not folder.is_dir():
        raise SetupError(f"{label}: no such folder")
    entries = load_catalog(folder, label=label)
    modes = {e.routing_key: e.compatibility for e in entries if e.compatibility is not None}
    return Catalog(label, {e.routing_key: e for e in entries}, modes, _def_labels(folder))


def _def_labels(folder: Path) -> dict[str, str]:
    """``$defs`` key -> ``_defs/<file>.json``, named as the loader names embedded files (title, or the stem)."""
    found: dict[str, list[str]] = {}
    for path in sorted((folder / DEFS_DIR).glob("*.json")):
        try:
            title = json.loads(path.read_text(encoding="utf-8")).get("title")
        except (ValueError, UnicodeDecodeError, AttributeError):
            continue
        key = title if isinstance(title, str) and title.isidentifier() else pascal_name(path.stem)
        found.setdefault(key, []).append(f"{DEFS_DIR}/{path.name}")
    return {key: files[0] for key, files in found.items() if len(files) == 1}


def load_baseline(against: str, schemas: Path, *, label: str, history: bool, cwd: Path) -> Baseline:
    """The baseline named by ``--against``: a catalog folder, else a git ref of the repository around ``cwd``.

    Raises:
        SetupError: neither a folder nor a git ref, or the catalog folder is missing at that ref.
        CatalogError: the baseline catalog does not lint.
    """
    folder = Path(against)
    if folder.is_dir():
        note = ("the baseline is a folder: transitive modes compare with it alone",) if history else ()
        return Baseline(against, read_catalog(folder, label=f"{against}"), {}, note)
    if against.startswith("-"):
        raise SetupError(f"--against {against}: not a folder, and not a git ref")
    outside = f"--against {against}: no such folder, and {cwd} is not in a git repository"
    top = Path(_git(cwd, "rev-parse", "--show-toplevel", fail=outside).strip())
    commit = _git(top, "rev-parse", "--verify", "--quiet", f"{against}^{{commit}}",
                  fail=f"--against {against}: no such folder, and not a git ref of {top}").strip()  # fmt: skip
    try:
        rel = schemas.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        raise SetupError(f"--schemas {schemas}: not inside the git repository {top}") from None
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp, "base")
        if not _export(top, commit, rel, base):
            raise SetupError(f"--against {against}: {rel} does not exist at that commit")
        catalog = read_catalog(base, label=f"{against}:{label}")
    past: Mapping[str, tuple[tuple[str, CatalogEntry], ...]] = {}
    notes: tuple[str, ...] = ()
    if history:
        past, notes = _history(top, commit, rel, label, catalog)
    return Baseline(against, catalog, past, notes)


def _history(
    top: Path, commit: str, rel: str, label: str, catalog: Catalog
) -> tuple[dict[str, tuple[tuple[str, CatalogEntry], ...]], tuple[str, ...]]:
    log = _git(top, "log", f"-n{HISTORY_LIMIT}", "--format=%H", commit, "--", rel or ".", fail="git log failed")
    states: list[tuple[str, Catalog]] = []
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        for sha in log.split():
            folder = Path(tmp, sha)
            try:
                if _export(top, sha, rel, folder):
                    states.append((sha[:10], read_catalog(folder, label=f"{sha[:10]}:{label}")))
            except (CatalogError, SetupError):
                notes.append(f"history: skipped {sha[:10]}, whose catalog does not lint")
    past: dict[str, tuple[tuple[str, CatalogEntry], ...]] = {}
    for key, entry in catalog.entries.items():
        seen, line = {entry.digest}, []
        for name, state in states:
            old = state.entries.get(key)
            if old is None or (old.version or 1) != (entry.version or 1):
                break
            if old.digest not in seen:
                seen.add(old.digest)
                line.append((name, old))
        past[key] = tuple(line)
    return past, tuple(notes)


def _git(cwd: Path, *args: str, fail: str, stdin: bytes | None = None) -> str:
    return _git_bytes(cwd, *args, fail=fail, stdin=stdin).decode("utf-8", "replace")


def _git_bytes(cwd: Path, *args: str, fail: str, stdin: bytes | None = None) -> bytes:
    try:
        proc = subprocess.run(  # noqa: S603 -- fixed git sub-commands; the ref was checked not to be an option
            ["git", *args],  # noqa: S607 -- git from PATH, as a developer or CI runs it
            cwd=cwd,
            input=stdin,
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"{fail}: {exc}") from exc
    if proc.returncode != 0:
        raise SetupError(fail)
    return proc.stdout


def _export(top: Path, commit: str, rel: str, dest: Path) -> bool:
    """Write the catalog folder ``rel`` at ``commit`` into ``dest``; False when it has no files there."""
    listing = _git_bytes(top, "ls-tree", "-r", "-z", commit, "--", rel or ".", fail=f"git ls-tree {commit} failed")
    blobs = []
    for record in listing.split(b"\0"):
        meta, _, path = record.decode("utf-8", "replace").partition("\t")
        if meta.split(" ")[1:2] == ["blob"]:
            blobs.append((meta.split(" ")[2], path))
    if not blobs:
        return False
    stream = _git_bytes(
        top, "cat-file", "--batch", fail="git cat-file failed", stdin="\n".join(s for s, _ in blobs).encode()
    )
    offset = 0
    for _, path in blobs:
        header_end = stream.index(b"\n", offset)
        size = int(stream[offset:header_end].split()[2])
        content = stream[header_end + 1 : header_end + 1 + size]
        offset = header_end + 1 + size + 1
        target = dest / Path(path).relative_to(rel) if rel else dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return True


# --- allow-list ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allowance:
    """An allow-list entry: a known break of ``rule`` in ``routing_key`` (at or under ``pointer``)."""

    routing_key: str
    rule: str
    reason: str
    pointer: str | None = None

    def covers(self, routing_key: str, change: Change) -> bool:
        """Whether this entry allows ``change`` of ``routing_key``."""
        if routing_key != self.routing_key or change.rule != self.rule:
            return False
        at = self.pointer
        return at is None or change.pointer == at or change.pointer.startswith((f"{at}/", f"{at} -> "))


def read_allow(path: Path, *, required: bool) -> list[Allowance]:
    """The entries of an allow-list file (none when it is absent and not ``required``).

    Raises:
        SetupError: a missing required file, bad JSON, or entries without routing key, known rule or reason.
    """
    if not path.is_file():
        if required:
            raise SetupError(f"--allow {path}: no such file")
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SetupError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or set(doc) != {"allow"} or not isinstance(doc["allow"], list):
        raise SetupError(f'{path}: expected {{"allow": [{{"routing_key", "rule", "reason", "pointer"?}}, ...]}}')
    problems: list[str] = []
    entries = [_allowance(item, f"{path}#/allow/{i}", problems) for i, item in enumerate(doc["allow"])]
    if problems:
        raise SetupError("; ".join(problems))
    return [e for e in entries if e is not None]


def _allowance(item: Any, where: str, problems: list[str]) -> Allowance | None:
    if not isinstance(item, dict):
        problems.append(f"{where}: an entry is an object")
        return None
    before = len(problems)
    unknown = sorted(set(item) - {"routing_key", "rule", "reason", "pointer"})
    if unknown:
        problems.append(f"{where}: unknown keys {unknown}")
    key, rule, reason, at = item.get("routing_key"), item.get("rule"), item.get("reason"), item.get("pointer")
    if not isinstance(key, str) or not key:
        problems.append(f"{where}/routing_key: name the event")
    if rule not in RULES:
        problems.append(f"{where}/rule: {rule!r} is not a rule")
    if not isinstance(reason, str) or not reason.strip():
        problems.append(f"{where}/reason: say why this break is acceptable (a non-empty reason)")
    if at is not None and not isinstance(at, str):
        problems.append(f"{where}/pointer: a JSON pointer string")
    return Allowance(str(key), str(rule), str(reason), at) if len(problems) == before else None


# --- the gate -----------------------------------------------------------------------------------------------

Status = Literal["breaking", "allowed", "compatible"]


@dataclass(frozen=True)
class Finding:
    """A change of one event, judged under its mode, with who it affects.

    ``status``: ``breaking`` (fails the gate), ``allowed`` (``allowed_by`` says why) or ``compatible`` (it breaks
    only a direction the mode does not check).
    """

    event: str
    change: Change
    mode: str
    status: Status
    allowed_by: str | None
    owner: str | None
    consumers: tuple[str, ...]
    producers: tuple[str, ...]
    baseline: str

    def as_dict(self) -> dict[str, Any]:
        """The finding as JSON data."""
        c = self.change
        return {
            "event": self.event,
            "pointer": c.pointer,
            "rule": c.rule,
            "old": c.old,
            "new": c.new,
            "breaks": sorted(c.breaks),
            "reply": c.reply,
            "message": c.message,
            "mode": self.mode,
            "status": self.status,
            "allowed_by": self.allowed_by,
            "owner": self.owner,
            "consumers": list(self.consumers),
            "producers": list(self.producers),
            "baseline": self.baseline,
        }


@dataclass(frozen=True)
class Report:
    """Everything one run of the gate found."""

    against: str
    mode: str
    events: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    findings: tuple[Finding, ...]
    notes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when nothing breaks, or every break is allowed."""
        return not any(f.status == "breaking" for f in self.findings)

    def count(self, status: Status) -> int:
        """How many findings have ``status``."""
        return sum(f.status == status for f in self.findings)


def check(current: Catalog, baseline: Baseline, *, mode: str, allow: Sequence[Allowance], code: CodeMap) -> Report:
    """Compare ``current`` with ``baseline``; see the module docstring for modes, rules and what passes."""
    old_cat, findings = baseline.catalog, []
    used: set[Allowance] = set()
    for key in sorted(current.entries.keys() | old_cat.entries.keys()):
        new, old = current.entries.get(key), old_cat.entries.get(key)
        event_mode = current.modes.get(key) or old_cat.modes.get(key) or mode
        checks, transitive = CHECKS[event_mode.removesuffix("_transitive")], event_mode.endswith("_transitive")
        if old is None:
            continue
        entry = new or old
        rpc = entry.kind == "rpc"
        impact = (code.consumers_of(key, rpc=rpc), code.producers_of(key, rpc=rpc))
        reply_impact = (impact[1], impact[0])
        if new is None:
            removed = Change("event-removed", "", old.source, None, BOTH, f"{key} is no longer in the catalog")
            pairs = [(baseline.label, removed, old)]
        else:
            states = [(baseline.label, old), *(baseline.history.get(key, ()) if transitive else ())]
            pairs = [(name, c, state) for name, state in states for c in _changes(state, new, old_cat, current)]
        seen: set[tuple[str, str, str, str]] = set()
        for name, change, state in pairs:
            ident = (change.rule, change.pointer, _canon(change.old), _canon(change.new))
            if ident in seen:
                continue
            seen.add(ident)
            status, why = _judge(key, change, checks=checks, allow=allow, used=used, old=state, new=new)
            consumers, producers = reply_impact if change.reply else impact
            findings.append(Finding(key, change, event_mode, status, why, entry.owner, tuple(consumers),
                                    tuple(producers), name))  # fmt: skip
    notes = list(baseline.notes)
    notes += [f"allow-list entry for {a.routing_key} {a.rule} matched nothing" for a in allow if a not in used]
    notes += [f"not parsed: {path}" for path in code.skipped]
    return Report(
        against=baseline.label,
        mode=mode,
        events=len(current.entries),
        added=tuple(sorted(current.entries.keys() - old_cat.entries.keys())),
        removed=tuple(sorted(old_cat.entries.keys() - current.entries.keys())),
        findings=tuple(findings),
        notes=tuple(notes),
    )


def _changes(old: CatalogEntry, new: CatalogEntry, old_cat: Catalog, new_cat: Catalog) -> list[Change]:
    return [c for c in compare_entries(old, new, old_labels=old_cat.labels, new_labels=new_cat.labels) if c.breaks]


def _judge(
    key: str, change: Change, *, checks: frozenset[str], allow: Sequence[Allowance], used: set[Allowance],
    old: CatalogEntry, new: CatalogEntry | None,
) -> tuple[Status, str | None]:  # fmt: skip
    if not change.breaks & checks:
        return "compatible", None
    entry = next((a for a in allow if a.covers(key, change)), None)
    if entry is not None:
        used.add(entry)
        return "allowed", f"allow-list: {entry.reason}"
    before, after = old.version or 1, (new.version or 1) if new is not None else 0
    if after > before:
        return "allowed", f"version bump {before} -> {after}"
    return "breaking", None


def run(
    *, schemas: Path, label: str, against: str, mode: str, code: Sequence[Path], allow: Path | None, as_json: bool,
    cwd: Path,
) -> tuple[int, str]:  # fmt: skip
    """The command: ``(exit status, text to print)``.

    Raises:
        SetupError: bad input (missing folder, unknown ref, bad allow-list file), one line.
        CatalogError: the catalog or the baseline does not lint.
    """
    if not schemas.is_dir():
        raise SetupError(f"--schemas {schemas}: no such folder")
    current = read_catalog(schemas, label=label)
    transitive = any(m.endswith("_transitive") for m in (mode, *current.modes.values()))
    baseline = load_baseline(against, schemas, label=label, history=transitive, cwd=cwd)
    allowed = read_allow(allow or schemas / ALLOW_FILE, required=allow is not None)
    keys = current.entries.keys() | baseline.catalog.entries.keys()
    report = check(current, baseline, mode=mode, allow=allowed, code=discover(code, routing_keys=keys))
    return (0 if report.ok else 1), (render_json(report) if as_json else render_text(report))


# --- output -------------------------------------------------------------------------------------------------


def render_json(report: Report) -> str:
    """The report as JSON: ``{"ok", "summary", "findings", "notes"}``."""
    summary = {
        "against": report.against,
        "mode": report.mode,
        "events": report.events,
        "added": list(report.added),
        "removed": list(report.removed),
        "breaking": report.count("breaking"),
        "allowed": report.count("allowed"),
        "compatible": report.count("compatible"),
    }
    data = {
        "ok": report.ok,
        "summary": summary,
        "findings": [f.as_dict() for f in report.findings],
        "notes": list(report.notes),
    }
    return json.dumps(data, indent=2, ensure_ascii=False)


def render_text(report: Report) -> str:
    """One block per finding, breaking ones first, then a summary line."""
    order = {"breaking": 0, "allowed": 1, "compatible": 2}
    lines = []
    for f in sorted(report.findings, key=lambda f: (order[f.status], f.event, f.change.pointer)):
        c = f.change
        lines.append(f"{f.status.upper():<10} {f.event}  {c.pointer or '(event)'}  {c.rule}")
        lines.append(f"  {c.message}: {_short(c.old)} -> {_short(c.new)}")
        if c.rule in _STRUCTURAL:
            lines.append(f"  breaks {' and '.join(sorted(c.breaks))}: {_STRUCTURAL[c.rule]}")
        for direction in sorted(c.breaks) if c.rule not in _STRUCTURAL else ():
            checked = "" if direction in CHECKS[f.mode.removesuffix("_transitive")] else f" (not checked: {f.mode})"
            lines.append(f"  breaks {direction}{checked}: {EXPLAIN[c.reply, direction]}")
        if f.allowed_by:
            lines.append(f"  allowed: {f.allowed_by}")
            if f.allowed_by.startswith("version bump"):
                lines.append(f"  rollout: {ROLLOUT[c.breaks]}")
        readers = "callers" if c.reply else "consumers"
        writers = "responder" if c.reply else "producers"
        impact = f"owner {f.owner or '?'}; {readers}: {', '.join(f.consumers) or 'none found'}"
        lines.append(f"  impact: {impact}; {writers}: {', '.join(f.producers) or 'none found'}")
        if f.baseline != report.against:
            lines.append(f"  against: {f.baseline}")
        lines.append("")
    lines += [f"note: {note}" for note in report.notes]
    added = f"; added: {', '.join(report.added)}" if report.added else ""
    removed = f"; removed: {', '.join(report.removed)}" if report.removed else ""
    verdict = "ok" if report.ok else "FAILED"
    lines.append(
        f"compat {verdict}: {report.count('breaking')} breaking, {report.count('allowed')} allowed, "
        f"{report.count('compatible')} compatible under their mode ({report.events} events against "
        f"{report.against}, mode {report.mode}{added}{removed})"
    )
    if not report.ok:
        lines.append(
            "fix the change, bump x-tchu.version of the event, or allow it with a reason in the allow-list "
            f"({ALLOW_FILE})"
        )
    return "\n".join(lines)
