"""The compatibility gate (codegen/compat.py, codegen/consumers.py) and ``python -m codegen compat``.

The rule table pairs an old and a new schema with the verdict JSON Schema semantics gives for each direction:
``backward`` holds when every instance of the old schema is valid under the new one (new readers, old data),
``forward`` when every instance of the new schema is valid under the old one (old readers, new data).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from codegen.__main__ import main
from codegen.compat import BACKWARD, FORWARD, RULES, compare_entries, compare_schemas
from codegen.consumers import discover
from tchu.catalog_files import CatalogEntry

ROOT = Path(__file__).resolve().parents[2]


def obj(props: dict[str, Any], *, required: tuple[str, ...] = (), closed: bool = True, **extra: Any) -> dict[str, Any]:
    """An object schema; ``closed`` sets ``additionalProperties: false``."""
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    schema.update(extra)
    return schema


def field(schema: Any) -> dict[str, Any]:
    """A closed event with one optional property ``v``."""
    return obj({"v": schema})


@dataclass(frozen=True)
class Rpc:
    request: dict[str, Any]
    response: dict[str, Any]


def rpc_entry(spec: Rpc) -> CatalogEntry:
    return CatalogEntry("shop.quote", "schemas/shop.quote.json", spec.request, kind="rpc", response=spec.response)


STR, INT, NUM, NULL, BOOL = (
    {"type": "string"},
    {"type": "integer"},
    {"type": "number"},
    {"type": "null"},
    {"type": "boolean"},
)
MONEY = obj({"amount": {"type": "number", "minimum": 0}, "currency": STR}, required=("amount", "currency"))
TREE = {"type": "object", "properties": {"v": INT, "kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}


def with_money(money: dict[str, Any]) -> dict[str, Any]:
    """An event whose ``total`` is a ``$ref`` to the shared definition ``Money``, as the loader resolves it."""
    return {**obj({"total": {"$ref": "#/$defs/Money"}}, required=("total",)), "$defs": {"Money": money}}


def tree(value_type: str) -> dict[str, Any]:
    node = copy.deepcopy(TREE)
    node["properties"]["v"]["type"] = value_type
    return {**obj({"root": {"$ref": "#/$defs/Node"}}), "$defs": {"Node": node}}


def case(verdict: str, old: Any, new: Any, rule: str | None, case_id: str) -> Any:
    """One row: ``verdict`` is the strongest mode the change passes (full, backward, forward or none)."""
    return pytest.param(old, new, verdict in {"full", "backward"}, verdict in {"full", "forward"}, rule, id=case_id)


def patched(schema: dict[str, Any], **change: Any) -> dict[str, Any]:
    return {**schema, **change}


# Each row: the compatibility the change keeps (full, backward, forward or none), old, new, the expected rule and an
# id; the comment above says why, from JSON Schema semantics.
# fmt: off
CASES = [
    # closed model: old data never carries "b", so new readers accept it; old readers reject the unknown "b"
    case("backward", obj({"a": INT}), obj({"a": INT, "b": STR}), "property-added", "add-optional-closed"),
    # open model: old data may carry "b" with any value, which the new type rejects; old readers accept any "b"
    case("forward", obj({"a": INT}, closed=False), obj({"a": INT, "b": STR}, closed=False), "property-added",
         "add-typed-optional-open"),
    # open model, unconstrained new property: {} accepts every value, so nothing changes either way
    case("full", obj({"a": INT}, closed=False), obj({"a": INT, "b": {}}, closed=False), None,
         "add-untyped-optional-open"),
    # old data lacks the required "b" (backward); old closed readers reject "b" (forward)
    case("none", obj({"a": INT}), obj({"a": INT, "b": STR}, required=("b",)), "property-added",
         "add-required-closed"),
    # closed model: old data carrying "b" is rejected now; new data simply lacks the optional "b"
    case("forward", obj({"a": INT, "b": STR}), obj({"a": INT}), "property-removed", "remove-optional-closed"),
    # open model: new readers accept any "b"; new writers may put any value in "b", old readers need a string
    case("backward", obj({"a": INT, "b": STR}, closed=False), obj({"a": INT}, closed=False), "property-removed",
         "remove-optional-open"),
    # open model: new data may lack the once required "b", which old readers need; new readers accept old data
    case("backward", obj({"a": INT, "b": STR}, required=("b",), closed=False), obj({"a": INT}, closed=False),
         "property-removed", "remove-required-open"),
    # open model, unconstrained "b" no longer required: new data may lack it, old readers need it
    case("backward", obj({"a": INT, "b": {}}, required=("b",), closed=False), obj({"a": INT}, closed=False),
         "property-removed", "remove-required-untyped-open"),
    # closed model: old "b" is unknown to new readers and new "c" unknown to old readers
    case("none", obj({"a": INT, "b": STR}), obj({"a": INT, "c": STR}), "property-renamed", "rename-closed"),
    # old data may lack "b"; new data always has it, which old readers allow
    case("forward", obj({"b": STR}), obj({"b": STR}, required=("b",)), "property-now-required", "newly-required"),
    # new data may lack "b", which old readers require; old data always has it
    case("backward", obj({"b": STR}, required=("b",)), obj({"b": STR}), "property-no-longer-required",
         "no-longer-required"),
    # closing: old data may carry extra fields new readers reject; new data has none, old readers allow any
    case("forward", obj({"a": INT}, closed=False), obj({"a": INT}), "additional-properties-closed",
         "additional-closed"),
    # opening: new data may carry extra fields old readers reject
    case("backward", obj({"a": INT}), obj({"a": INT}, closed=False), "additional-properties-opened",
         "additional-opened"),
    # extra fields as string or integer, then only string: old integer extras are rejected
    case("forward", obj({}, closed=False, additionalProperties={"type": ["string", "integer"]}),
         obj({}, closed=False, additionalProperties=STR), "type-narrowed", "additional-schema-narrowed"),
    # null no longer accepted: old nulls fail new readers
    case("forward", field({"type": ["string", "null"]}), field(STR), "type-narrowed", "type-narrowed"),
    # null now accepted: new nulls fail old readers
    case("backward", field(STR), field({"type": ["string", "null"]}), "type-widened", "type-widened"),
    # every integer is a number, not every number an integer: a new 1.5 fails old readers
    case("backward", field(INT), field(NUM), "type-widened", "integer-to-number"),
    # an old 1.5 is not an integer
    case("forward", field(NUM), field(INT), "type-narrowed", "number-to-integer"),
    # no value is both a string and an integer
    case("none", field(STR), field(INT), "type-changed", "type-changed"),
    # an old "c" fails new readers; every new value was valid before
    case("forward", field({"enum": ["a", "b", "c"]}), field({"enum": ["a", "b"]}), "enum-value-removed",
         "enum-value-removed"),
    # a new "c" fails old readers
    case("backward", field({"enum": ["a", "b"]}), field({"enum": ["a", "b", "c"]}), "enum-value-added",
         "enum-value-added"),
    # any old string may fall outside the new enum
    case("forward", field(STR), field({"type": "string", "enum": ["a"]}), "enum-added", "enum-added"),
    # any new string is accepted; old readers accept only "a"
    case("backward", field({"type": "string", "enum": ["a"]}), field(STR), "enum-removed", "enum-removed"),
    # the same values in another order
    case("full", field({"enum": ["a", "b"]}), field({"enum": ["b", "a"]}), None, "enum-reordered"),
    # the only old value is invalid now, and the only new value was invalid before
    case("none", field({"const": "v1"}), field({"const": "v2"}), "const-changed", "const-changed"),
    # const "a" and enum ["a"] accept exactly the same instances
    case("full", field({"const": "a"}), field({"enum": ["a"]}), None, "const-as-enum"),
    # an old 0 is below the new minimum
    case("forward", field({"type": "integer", "minimum": 0}), field({"type": "integer", "minimum": 1}),
         "bound-tightened", "minimum-raised"),
    # a new 11 is above the old maximum
    case("backward", field({"type": "integer", "maximum": 10}), field({"type": "integer", "maximum": 20}),
         "bound-loosened", "maximum-raised"),
    # 0 passed minimum 0 and fails exclusiveMinimum 0; every value above 0 is at least 0
    case("forward", field({"type": "number", "minimum": 0}), field({"type": "number", "exclusiveMinimum": 0}),
         "bound-tightened", "minimum-to-exclusive"),
    # an old 150-character name is too long now
    case("forward", field({"type": "string", "maxLength": 200}), field({"type": "string", "maxLength": 100}),
         "bound-tightened", "max-length-lowered"),
    # a new empty string fails old readers
    case("backward", field({"type": "string", "minLength": 1}), field(STR), "bound-loosened", "min-length-removed"),
    # an old empty list fails minItems 1
    case("forward", field({"type": "array"}), field({"type": "array", "minItems": 1}), "bound-tightened",
         "min-items-added"),
    # a new 4-item list fails the old maxItems 3
    case("backward", field({"type": "array", "maxItems": 3}), field({"type": "array"}), "bound-loosened",
         "max-items-removed"),
    # an old 2 is not a multiple of 4; every multiple of 4 is even
    case("forward", field({"type": "integer", "multipleOf": 2}), field({"type": "integer", "multipleOf": 4}),
         "multiple-of-changed", "multiple-of-tightened"),
    # a new 2 is not a multiple of 4
    case("backward", field({"type": "integer", "multipleOf": 4}), field({"type": "integer", "multipleOf": 2}),
         "multiple-of-changed", "multiple-of-loosened"),
    # regular expressions are not compared: a changed pattern may reject old and new values alike
    case("none", field({"type": "string", "pattern": "^[A-Z]{3}$"}), field({"type": "string", "pattern": "^[A-Z]+$"}),
         "pattern-changed", "pattern-changed"),
    # a new pattern constrains every old string
    case("forward", field(STR), field({"type": "string", "pattern": "^x"}), "pattern-changed", "pattern-added"),
    # the validator asserts formats: an old "not-a-date" is rejected now
    case("forward", field(STR), field({"type": "string", "format": "date"}), "format-changed", "format-added"),
    # a date is no email and an email no date
    case("none", field({"type": "string", "format": "date"}), field({"type": "string", "format": "email"}),
         "format-changed", "format-changed"),
    # an old list with duplicates fails uniqueItems
    case("forward", field({"type": "array"}), field({"type": "array", "uniqueItems": True}), "unique-items-changed",
         "unique-items-added"),
    # nested object: old data without v.name fails the new nested required
    case("forward", field(obj({"name": STR})), field(obj({"name": STR}, required=("name",))),
         "property-now-required", "nested-now-required"),
    # array items: an old list holding 1.5 fails integer items
    case("forward", field({"type": "array", "items": NUM}), field({"type": "array", "items": INT}), "type-narrowed",
         "items-narrowed"),
    # array of closed objects: a new item carrying "note" fails old readers
    case("backward", field({"type": "array", "items": obj({"id": INT})}),
         field({"type": "array", "items": obj({"id": INT, "note": STR})}), "property-added",
         "items-object-property-added"),
    # an old integer matched the removed branch only
    case("forward", field({"anyOf": [STR, INT]}), field({"anyOf": [STR]}), "branch-removed", "any-of-branch-removed"),
    # a new integer matches only the added branch
    case("backward", field({"anyOf": [STR]}), field({"anyOf": [STR, INT]}), "branch-added", "any-of-branch-added"),
    # nullable through anyOf: every old string is still valid, new nulls fail old readers
    case("backward", field(STR), field({"anyOf": [STR, NULL]}), "branch-added", "any-of-nullable"),
    # oneOf: an old "ab" matches two branches now, so it is invalid; overlap cannot be ruled out
    case("none", field({"oneOf": [STR, INT]}), field({"oneOf": [STR, INT, {"type": "string", "maxLength": 3}]}),
         "branch-added", "one-of-overlapping-branch"),
    # oneOf with a branch of another type: old values still match exactly one branch; new nulls fail old readers
    case("backward", field({"oneOf": [STR, INT]}), field({"oneOf": [STR, INT, NULL]}), "branch-added",
         "one-of-disjoint-branch"),
    # oneOf: "abcde" matched only the second branch; the widened first one matches it too, so it is invalid now
    case("none", field({"oneOf": [{"type": "string", "maxLength": 2}, {"type": "string", "minLength": 5}]}),
         field({"oneOf": [{"type": "string", "maxLength": 6}, {"type": "string", "minLength": 5}]}),
         "bound-loosened", "one-of-branch-widened-overlapping"),
    # oneOf of disjoint types: a widened string branch still never matches an integer; new "abcd" fails old readers
    case("backward", field({"oneOf": [{"type": "string", "maxLength": 2}, INT]}),
         field({"oneOf": [{"type": "string", "maxLength": 5}, INT]}), "bound-loosened",
         "one-of-branch-widened-disjoint"),
    # oneOf: a new "ab" matched both old branches (invalid before); an old "abcdef" matched only the removed one
    case("none", field({"oneOf": [{"type": "string", "maxLength": 3}, {"type": "string", "minLength": 2}]}),
         field({"oneOf": [{"type": "string", "maxLength": 3}]}), "branch-removed", "one-of-overlapping-branch-removed"),
    # allOf: one more conjunct constrains old data; new data satisfies every old conjunct
    case("forward", field({"allOf": [STR]}), field({"allOf": [STR, {"minLength": 2}]}), "branch-added",
         "all-of-conjunct-added"),
    # a new anyOf next to other keywords constrains old strings; new strings satisfy the old schema
    case("forward", field(STR), field({"type": "string", "anyOf": [{"minLength": 2}, {"pattern": "^x"}]}),
         "combinator-added", "combinator-added"),
    # the constraint is gone: a new "a" fails the old anyOf
    case("backward", field({"type": "string", "anyOf": [{"minLength": 2}, {"pattern": "^x"}]}), field(STR),
         "combinator-removed", "combinator-removed"),
    # a shared definition tightened: an old amount 0 in an event using Money fails new readers
    case("forward", with_money(MONEY), with_money(patched(MONEY, properties={**MONEY["properties"], "amount": {
         "type": "number", "minimum": 1}})), "bound-tightened", "ref-defs-tightened"),
    # a definition inlined with the same content accepts the same instances
    case("full", with_money(MONEY), obj({"total": MONEY}, required=("total",)), None, "ref-inlined"),
    # a recursive definition whose value type changed; comparing stops at the cycle
    case("none", tree("integer"), tree("string"), "type-changed", "ref-recursive"),
    # rpc request, as an event: old callers' requests lack the new required "at"; old open responders accept it
    case("forward", Rpc(obj({"id": INT}, closed=False), obj({"ok": BOOL})),
         Rpc(obj({"id": INT, "at": STR}, required=("at",), closed=False), obj({"ok": BOOL})), "property-added",
         "rpc-request-required"),
    # rpc reply, reversed: a new field in a closed reply fails old callers reading a new responder's reply
    case("forward", Rpc(obj({"id": INT}), obj({"ok": BOOL})), Rpc(obj({"id": INT}), obj({"ok": BOOL, "why": STR})),
         "property-added", "rpc-reply-field-added"),
    # rpc reply, reversed: a newly required reply field fails new callers reading an old responder's reply
    case("backward", Rpc(obj({"id": INT}), obj({"ok": BOOL})), Rpc(obj({"id": INT}), obj({"ok": BOOL},
         required=("ok",))), "property-now-required", "rpc-reply-now-required"),
    # not: which instances a changed negation admits is not reasoned about
    case("none", field({"not": STR}), field({"not": INT}), "unsupported-keyword", "not-changed"),
    # if/then/else: conditional constraints are not reasoned about
    case("none", field(obj({"a": STR})), field({**obj({"a": STR}), "if": {"required": ["a"]}, "then": {}}),
         "unsupported-keyword", "if-then-added"),
    # dependentSchemas: constraints conditional on presence are not reasoned about
    case("none", field({"dependentSchemas": {"a": {"required": ["b"]}}}),
         field({"dependentSchemas": {"a": {"required": ["c"]}}}), "unsupported-keyword", "dependent-schemas-changed"),
    # patternProperties: which names a regular expression covers is not reasoned about
    case("none", field({"type": "object", "patternProperties": {"^x_": STR}}),
         field({"type": "object", "patternProperties": {"^x_": INT}}), "unsupported-keyword",
         "pattern-properties-changed"),
    # $dynamicRef: dynamic scope is not followed
    case("none", field({"$dynamicRef": "#node"}), field({"$dynamicRef": "#other"}), "unsupported-keyword",
         "dynamic-ref-changed"),
    # an unchanged unsupported keyword constrains old and new alike
    case("full", field({"not": STR, "type": "integer"}), field({"not": STR, "type": "integer"}), None,
         "not-unchanged"),
    # the false schema accepted no value of "v"; {} accepts any: new data fails old readers
    case("backward", obj({"v": False}), obj({"v": {}}), "schema-opened", "false-schema-opened"),
    # the new false schema rejects every value of "v": old data carrying it fails; new data never carries it
    case("forward", obj({"v": {}}), obj({"v": False}), "schema-closed", "false-schema-closed"),
    # annotations do not change which instances are valid
    case("full", field({"type": "string", "description": "old"}),
         field({"type": "string", "description": "new", "title": "T", "examples": ["x"]}), None, "annotations-only"),
]
# fmt: on


@pytest.mark.parametrize(("old", "new", "backward_ok", "forward_ok", "rule"), CASES)
def test_rule_table(old: Any, new: Any, backward_ok: bool, forward_ok: bool, rule: str | None) -> None:
    changes = compare_entries(rpc_entry(old), rpc_entry(new)) if isinstance(old, Rpc) else compare_schemas(old, new)
    breaks = {d for c in changes for d in c.breaks}
    assert (BACKWARD not in breaks, FORWARD not in breaks) == (backward_ok, forward_ok), changes
    if rule is None:
        assert changes == []
    else:
        assert rule in {c.rule for c in changes}, changes
    assert {c.rule for c in changes} <= RULES


def test_rule_table_covers_every_rule_about_schemas() -> None:
    covered = {p.values[4] for p in CASES}
    assert len(CASES) >= 40
    assert RULES - covered == {"event-removed", "kind-changed", "version-decreased"}  # tested below


def test_reply_changes_are_reported_under_the_response_pointer() -> None:
    old = Rpc(obj({"id": INT}), obj({"ok": {"type": "boolean"}}))
    new = Rpc(obj({"id": INT}), obj({"ok": {"type": "boolean"}, "why": STR}))
    [change] = compare_entries(rpc_entry(old), rpc_entry(new))
    assert (change.pointer, change.reply, change.breaks) == ("/x-tchu/response/properties/why", True, {BACKWARD})


def test_pointer_goes_through_the_ref_to_the_defs_file() -> None:
    tighter = {**MONEY, "properties": {**MONEY["properties"], "amount": {"type": "number", "minimum": 1}}}
    [change] = compare_schemas(with_money(MONEY), with_money(tighter), new_labels={"Money": "_defs/money.json"})
    assert change.pointer == "/properties/total -> _defs/money.json#/properties/amount/minimum"
    assert (change.old, change.new) == ({"minimum": 0}, {"minimum": 1})


def test_kind_and_version_changes() -> None:
    event = CatalogEntry("a.b", "schemas/a.b.json", obj({}), version=3)
    rpc = CatalogEntry("a.b", "schemas/a.b.json", obj({}), kind="rpc", response=obj({}), version=2)
    rules = {c.rule: c.breaks for c in compare_entries(event, rpc)}
    assert rules == {"kind-changed": {BACKWARD, FORWARD}, "version-decreased": {BACKWARD, FORWARD}}


# --- a schema compared with itself, and soundness against a validator -----------------------------------------

LEAVES = st.sampled_from(
    [
        STR,
        INT,
        NUM,
        NULL,
        {"type": "boolean"},
        {"enum": ["a", "b", 1]},
        {"const": 2},
        {"type": "integer", "minimum": 0, "maximum": 5},
        {"type": "string", "maxLength": 2},
        {"type": "string", "format": "date"},
        {"type": ["string", "null"]},
        {},
        {"not": NULL},
    ]
)


def _schemas(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    names = st.sampled_from(["a", "b", "c"])
    props = st.dictionaries(names, children, max_size=3)
    objects = st.builds(
        lambda p, req, closed: obj(p, required=tuple(sorted(set(req) & set(p))), closed=closed),
        props,
        st.lists(names, max_size=3),
        st.booleans(),
    )
    arrays = st.builds(lambda items, n: {"type": "array", "items": items, "maxItems": n}, children, st.integers(0, 3))
    unions = st.builds(
        lambda c, bs: {c: bs}, st.sampled_from(["anyOf", "oneOf"]), st.lists(children, min_size=1, max_size=3)
    )
    return objects | arrays | unions


SCHEMAS = st.recursive(LEAVES, _schemas, max_leaves=8)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-1, 6) | st.sampled_from([1.5, "a", "b", "abc", "", "2024-01-01"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SCHEMAS)
def test_a_schema_compared_with_itself_has_no_findings(schema: Any) -> None:
    assert compare_schemas(schema, copy.deepcopy(schema)) == []
    wrapped = {**obj({"x": {"$ref": "#/$defs/D"}}), "$defs": {"D": schema}}
    assert compare_schemas(wrapped, copy.deepcopy(wrapped)) == []


def _valid(schema: Any, value: Any) -> bool:
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return validator.is_valid(value)


def _objects(schema: Any) -> list[dict[str, Any]]:
    """Every object-typed node of a generated schema (where a mutation can apply)."""
    found = [schema] if isinstance(schema, dict) else []
    for child in [*_props_of(schema).values(), *(schema.get("anyOf", []) if isinstance(schema, dict) else [])]:
        found += _objects(child)
    if isinstance(schema, dict) and "items" in schema:
        found += _objects(schema["items"])
    return found


def _props_of(schema: Any) -> dict[str, Any]:
    return schema.get("properties", {}) if isinstance(schema, dict) else {}


MUTATIONS = [
    lambda n, r: n.get("properties", {}).pop(r.choice(sorted(n["properties"])), None) if n.get("properties") else None,
    lambda n, r: n.setdefault("properties", {}).update({r.choice("abcd"): copy.deepcopy(r.choice([STR, INT, {}]))}),
    lambda n, r: n.update(required=sorted(set(n.get("required", [])) ^ {r.choice("abc")} & set(_props_of(n)))),
    lambda n, r: n.update(additionalProperties=copy.deepcopy(r.choice([False, True, STR]))),
    lambda n, r: n.update(minimum=r.randrange(-1, 4)),
    lambda n, r: n.update(exclusiveMaximum=r.randrange(0, 6)),
    lambda n, r: n.update(type=r.choice(["string", "integer", "number", ["string", "null"], "object", "array"])),
    lambda n, _r: n.pop("type", None),
    lambda n, r: n.update(enum=r.sample(["a", "b", 1, 2, None], r.randrange(1, 4))),
    lambda n, _r: [n.pop("enum", None), n.pop("const", None)],
    lambda n, r: n.update(maxItems=r.randrange(0, 3)),
    lambda n, r: n.update(anyOf=[*n.get("anyOf", []), copy.deepcopy(r.choice([STR, INT, NULL]))]),
    lambda n, _r: n.get("anyOf", [None]).pop() if n.get("anyOf", [])[1:] else None,
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SCHEMAS, st.randoms(use_true_random=False), st.lists(VALUES, min_size=1, max_size=6))
def test_a_direction_reported_compatible_never_loses_an_instance(old: Any, rnd: Any, values: list[Any]) -> None:
    """Soundness: when no finding breaks backward, every value valid under old is valid under new (and forward).

    ``new`` is ``old`` after one to three small edits, so the two differ the way schemas do between commits.
    """
    new = copy.deepcopy(old)
    for _ in range(rnd.randrange(1, 4)):
        rnd.choice(MUTATIONS)(rnd.choice(_objects(new) or [{}]), rnd)
    breaks = {d for c in compare_schemas(old, new) for d in c.breaks}
    for value in values:
        if BACKWARD not in breaks and _valid(old, value):
            assert _valid(new, value), (old, new, value)
        if FORWARD not in breaks and _valid(new, value):
            assert _valid(old, value), (old, new, value)


# --- consumers and producers, read from code -------------------------------------------------------------------

CODE = {
    "mail/app.py": (
        'from tchu import setup_service\napp = object()\nsetup_service(app, "mail", handlers=["mail.handlers"])\n'
    ),
    "mail/handlers.py": (
        "from generated import UserCreated, on_user_created\n\n\n"
        "@on_user_created\ndef welcome(event: UserCreated) -> None: ...\n"
    ),
    "audit/app.py": 'import tchu\ntchu.setup_service(object(), "audit", handlers=["audit.handlers"])\n',
    "audit/handlers.py": 'from tchu import subscribe\n\n\n@subscribe("#")\ndef everything(event): ...\n',
    "billing/app.py": 'import tchu\ntchu.setup_service(object(), "billing", handlers=["billing.subscribers"])\n',
    "billing/subscribers.py": (
        "from tchu import Router\nrouter = Router()\n\n\n"
        '@router.subscribe("order.*")\ndef orders(event): ...\n\n\n'
        'subscribe_later = router.respond("user.validate")\n'
    ),
    "billing/jobs.py": 'def run(client):\n    client.call("user.validate", {"email": "a@b.c"})\n',
    "signup/views.py": (
        "from generated import publish_user_created\n\n\n"
        "def signup(client):\n    publish_user_created(user_id=1, email='a@b.c', name='A')\n"
        "    client.publish(\"user.deleted\", {'user_id': 1})\n"
    ),
    "orders/views.py": (
        "from tchu.contrib.django import publish_on_commit\n\n\n"
        "def place(client, event):\n"
        "    publish_on_commit(client, \"order.created\", {'order_id': 1})\n"
        "    publish_on_commit(client, topic=\"order.created\", data={'order_id': 2})\n"
        "    publish_on_commit(event)  # a TchuEvent: its topic is in its class\n"
    ),
    "tests/test_mail.py": 'from tchu import subscribe\n\n\n@subscribe("user.created")\ndef spy(event): ...\n',
    ".venv/lib/site.py": 'from tchu import subscribe\n\n\n@subscribe("#")\ndef lib(event): ...\n',
    "broken.py": "def (:\n",
}


def write_code(root: Path) -> Path:
    for name, text in CODE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_examples_consumers_and_producers() -> None:
    keys = ["user.created", "user.deleted", "user.validate", "order.payment.completed"]
    code = discover([ROOT / "examples"], routing_keys=keys)
    assert code.consumers_of("user.created") == ["analytics", "notifications"]
    assert code.consumers_of("user.deleted") == ["analytics", "users"]
    assert code.consumers_of("user.validate", rpc=True) == ["users"]
    assert code.producers_of("user.created") == ["demo"]  # examples/demo.py: no service set up in examples/
    assert code.producers_of("user.validate", rpc=True) == ["demo"]
    assert code.services()["analytics"] == ("#", "user.*")
    assert code.services()["notifications"] == ("user.created",)
    # examples/django_orders: tchu.contrib.django.setup(app, service="orders") names the service of its folder
    assert code.consumers_of("order.payment.completed") == ["analytics", "orders"]


def test_code_scan_of_a_small_tree(tmp_path: Path) -> None:
    code = discover([write_code(tmp_path)], routing_keys=["user.created", "user.deleted", "order.created"])
    assert code.consumers_of("user.created") == ["audit", "mail"]  # '#' and @on_user_created; tests/ skipped
    assert code.consumers_of("order.created") == ["audit", "billing"]
    assert code.producers_of("order.created") == ["orders"]  # publish_on_commit(client, "order.created", ...)
    assert code.producers_of("user.created") == ["signup"]  # no setup_service: its top-level folder
    assert code.producers_of("user.deleted") == ["signup"]
    assert code.consumers_of("user.validate", rpc=True) == ["billing"]
    assert code.producers_of("user.validate", rpc=True) == ["billing"]  # jobs.py: the service set up in billing/
    assert code.services() == {"audit": ("#",), "billing": ("order.*", "user.validate"), "mail": ("user.created",)}
    assert [Path(p).name for p in code.skipped] == ["broken.py"]


# --- the command line ------------------------------------------------------------------------------------------


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (the working directory): ``schemas/``, a baseline copy ``base/`` and code in ``code/``."""
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    shutil.copytree(ROOT / "schemas", tmp_path / "base")
    write_code(tmp_path / "code")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def compat(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    code = main(["compat", "--code", "code", *args])
    out, err = capsys.readouterr()
    return Run(code, out, err)


def edit(path: Path, change: Any) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")


def require_created_at(doc: dict[str, Any]) -> None:
    doc["required"].append("created_at")
    for example in doc["examples"]:
        example.setdefault("created_at", "2026-01-05T09:30:00Z")


def one_error(run: Run) -> str:
    assert run.code == 1
    assert run.out == ""
    assert len(run.err.strip().splitlines()) == 1, run.err
    assert run.err.startswith("error: ")
    assert "Traceback" not in run.err
    return run.err


def test_unchanged_catalog_passes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = compat(capsys, "--against", "base")
    assert run.code == 0, run.out
    assert run.out.splitlines()[-2:] == [
        f"note: not parsed: {project / 'code' / 'broken.py'}",
        "compat ok: 0 breaking, 0 allowed, 0 compatible under their mode (7 events against base, mode full)",
    ]


def test_breaking_change_names_rule_pointer_and_impact(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(project / "schemas/user.created.json", require_created_at)
    run = compat(capsys, "--against", "base")
    assert run.code == 1
    assert run.out.splitlines()[:4] == [
        "BREAKING   user.created  /properties/created_at  property-now-required",
        """  'created_at' is now required: "optional" -> "required\"""",
        (
            "  breaks backward: events written under the old schema (queued, retried, replayed) may be rejected by "
            "consumers built from the new one"
        ),
        "  impact: owner users; consumers: audit, mail; producers: signup",
    ]
    assert "compat FAILED: 1 breaking" in run.out


def test_json_output(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(project / "schemas/user.created.json", require_created_at)
    data = compat(capsys, "--against", "base", "--json").json()
    assert set(data) == {"ok", "summary", "findings", "notes"}
    assert data["ok"] is False
    assert data["summary"] == {
        "against": "base",
        "mode": "full",
        "events": 7,
        "added": [],
        "removed": [],
        "breaking": 1,
        "allowed": 0,
        "compatible": 0,
    }
    [finding] = data["findings"]
    assert finding == {
        "event": "user.created",
        "pointer": "/properties/created_at",
        "rule": "property-now-required",
        "old": "optional",
        "new": "required",
        "breaks": ["backward"],
        "reply": False,
        "message": "'created_at' is now required",
        "mode": "full",
        "status": "breaking",
        "allowed_by": None,
        "owner": "users",
        "consumers": ["audit", "mail"],
        "producers": ["signup"],
        "baseline": "base",
    }


def test_defs_change_is_reported_against_every_event_using_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(project / "schemas/_defs/money.json", lambda d: d["properties"]["amount"].update(minimum=1))
    data = compat(capsys, "--against", "base", "--json").json()
    where = {(f["event"], f["pointer"], tuple(f["breaks"])) for f in data["findings"]}
    assert where == {
        ("order.created", "/properties/total -> _defs/money.json#/properties/amount/minimum", ("backward",)),
        ("order.payment.completed", "/properties/amount -> _defs/money.json#/properties/amount/minimum", ("backward",)),
        (
            "order.calculate_total",
            "/x-tchu/response/properties/total -> _defs/money.json#/properties/amount/minimum",
            ("forward",),
        ),
        (
            "order.calculate_total",
            "/x-tchu/response/properties/discount -> _defs/money.json#/properties/amount/minimum",
            ("forward",),
        ),
    }
    consumers = {f["event"]: f["consumers"] for f in data["findings"]}
    assert consumers["order.created"] == ["audit", "billing"]


def test_allow_list_entry_with_reason_allows_the_break(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(project / "schemas/user.created.json", require_created_at)
    entry = {
        "routing_key": "user.created",
        "rule": "property-now-required",
        "pointer": "/properties/created_at",
        "reason": "every producer sets created_at since 1.4",
    }
    (project / "schemas/compat-allow.json").write_text(json.dumps({"allow": [entry]}), encoding="utf-8")
    run = compat(capsys, "--against", "base")
    assert run.code == 0, run.out
    assert "  allowed: allow-list: every producer sets created_at since 1.4" in run.out.splitlines()
    assert "compat ok: 0 breaking, 1 allowed" in run.out


def test_allow_list_entry_for_another_pointer_does_not_allow(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(project / "schemas/user.created.json", require_created_at)
    entry = {
        "routing_key": "user.created",
        "rule": "property-now-required",
        "pointer": "/properties/name",
        "reason": "not this one",
    }
    allow = project / "allow.json"
    allow.write_text(json.dumps({"allow": [entry]}), encoding="utf-8")
    run = compat(capsys, "--against", "base", "--allow", str(allow))
    assert run.code == 1
    assert "note: allow-list entry for user.created property-now-required matched nothing" in run.out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            {"allow": [{"routing_key": "user.created", "rule": "property-removed"}]}, "/allow/0/reason", id="no-reason"
        ),
        pytest.param(
            {"allow": [{"routing_key": "user.created", "rule": "property-removed", "reason": "  "}]},
            "/allow/0/reason",
            id="blank-reason",
        ),
        pytest.param(
            {"allow": [{"routing_key": "a.b", "rule": "no-such-rule", "reason": "x"}]},
            "/allow/0/rule",
            id="unknown-rule",
        ),
        pytest.param("{not json", "not valid JSON", id="not-json"),
        pytest.param([], 'expected {"allow"', id="not-an-object"),
    ],
)
def test_bad_allow_file_is_one_error_line(
    project: Path, capsys: pytest.CaptureFixture[str], content: Any, message: str
) -> None:
    allow = project / "allow.json"
    allow.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    assert message in one_error(compat(capsys, "--against", "base", "--allow", str(allow)))


def test_version_bump_allows_the_break(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def bump(doc: dict[str, Any]) -> None:
        require_created_at(doc)
        doc["x-tchu"]["version"] = 2

    edit(project / "schemas/user.created.json", bump)
    run = compat(capsys, "--against", "base")
    assert run.code == 0, run.out
    assert "  allowed: version bump 1 -> 2" in run.out.splitlines()
    assert "  rollout: upgrade the owner first, then consumers once queued old events are handled" in run.out


def test_per_event_mode_overrides_the_flag(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def add_field(doc: dict[str, Any]) -> None:  # closed model: breaks forward only
        doc["properties"]["nickname"] = {"type": "string"}

    edit(project / "schemas/user.created.json", add_field)
    assert compat(capsys, "--against", "base").code == 1
    assert compat(capsys, "--against", "base", "--mode", "backward").code == 0
    edit(project / "schemas/user.created.json", lambda d: d["x-tchu"].update(compatibility="backward"))
    run = compat(capsys, "--against", "base", "--json")
    assert run.code == 0
    [finding] = run.json()["findings"]
    assert (finding["rule"], finding["mode"], finding["status"]) == ("property-added", "backward", "compatible")
    edit(project / "schemas/user.created.json", lambda d: d["x-tchu"].update(compatibility="forward"))
    assert compat(capsys, "--against", "base", "--mode", "none").code == 1


def test_bad_compatibility_value_is_a_lint_problem_naming_it(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(project / "schemas/user.created.json", lambda d: d["x-tchu"].update(compatibility="sideways"))
    run = compat(capsys, "--against", "base")
    assert run.code == 1
    assert run.err.startswith("error: the catalog has 1 problem(s):")
    assert "schemas/user.created.json#/x-tchu/compatibility: 'sideways' is not a mode" in run.err
    assert "Traceback" not in run.err


def test_removed_event_breaks_and_names_its_consumers(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "schemas/user.deleted.json").unlink()
    run = compat(capsys, "--against", "base", "--json")
    assert run.code == 1
    [finding] = run.json()["findings"]
    assert (finding["rule"], finding["pointer"], finding["breaks"]) == ("event-removed", "", ["backward", "forward"])
    assert (finding["consumers"], finding["producers"]) == (["audit"], ["signup"])
    assert run.json()["summary"]["removed"] == ["user.deleted"]


def test_new_event_is_fine(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = json.loads((project / "schemas/user.deleted.json").read_text(encoding="utf-8"))
    (project / "schemas/user.banned.json").write_text(json.dumps(new), encoding="utf-8")
    run = compat(capsys, "--against", "base")
    assert run.code == 0
    assert "added: user.banned" in run.out


def test_the_command_runs_as_a_module(project: Path) -> None:
    (project / "schemas/user.deleted.json").unlink()
    proc = subprocess.run(
        [sys.executable, "-m", "codegen", "compat", "--against", "base", "--code", "code"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("BREAKING   user.deleted  (event)  event-removed\n")


# --- git baselines ---------------------------------------------------------------------------------------------

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=30)
    return proc.stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")[:10]


@pytest.fixture
def repo(project: Path) -> Path:
    shutil.rmtree(project / "base")
    git(project, "init", "-q", "-b", "main")
    commit(project, "catalog")
    return project


def set_minimum(minimum: int) -> Any:
    def change(doc: dict[str, Any]) -> None:
        doc["properties"]["user_id"]["minimum"] = minimum
        for example in doc["examples"]:
            example["user_id"] = max(example["user_id"], minimum)

    return change


def test_git_ref_baseline(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(repo / "schemas/user.created.json", require_created_at)
    assert compat(capsys, "--against", "main").code == 1  # working tree against the last commit
    commit(repo, "require created_at")
    assert compat(capsys, "--against", "HEAD").code == 0
    run = compat(capsys, "--against", "HEAD~1", "--json")
    assert run.code == 1
    assert [(f["rule"], f["baseline"]) for f in run.json()["findings"]] == [("property-now-required", "HEAD~1")]


def test_transitive_mode_compares_with_earlier_states(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = git(repo, "rev-parse", "HEAD")[:10]  # user_id minimum 1
    edit(repo / "schemas/user.created.json", set_minimum(5))
    commit(repo, "user_id from 5")  # never gated
    edit(repo / "schemas/user.created.json", set_minimum(3))  # looser than HEAD, tighter than the first commit
    assert compat(capsys, "--against", "HEAD", "--mode", "backward").code == 0
    run = compat(capsys, "--against", "HEAD", "--mode", "backward_transitive", "--json")
    assert run.code == 1
    [finding] = [f for f in run.json()["findings"] if f["status"] == "breaking"]
    assert (finding["rule"], finding["baseline"], finding["old"], finding["new"]) == (
        "bound-tightened",
        first,
        {"minimum": 1},
        {"minimum": 3},
    )


def test_transitive_history_stops_at_a_version_change(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def v2_from_5(doc: dict[str, Any]) -> None:
        set_minimum(5)(doc)
        doc["x-tchu"]["version"] = 2

    edit(repo / "schemas/user.created.json", v2_from_5)
    commit(repo, "version 2")
    edit(repo / "schemas/user.created.json", set_minimum(3))
    run = compat(capsys, "--against", "HEAD", "--mode", "backward_transitive", "--json")
    assert run.code == 0, run.out
    assert {(f["baseline"], f["status"]) for f in run.json()["findings"]} == {("HEAD", "compatible")}


def test_folder_baseline_transitive_is_plain(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = compat(capsys, "--against", "base", "--mode", "full_transitive")
    assert run.code == 0
    assert "note: the baseline is a folder: transitive modes compare with it alone" in run.out


# --- bad input: one line, exit 1 -----------------------------------------------------------------------------


def test_unknown_git_ref(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "--against no-such-branch: no such folder, and not a git ref" in one_error(
        compat(capsys, "--against", "no-such-branch")
    )


def test_baseline_outside_a_repository(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "--against missing: no such folder" in one_error(compat(capsys, "--against", "missing"))


def test_missing_schemas_folder(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "--schemas nowhere: no such folder" in one_error(compat(capsys, "--against", "base", "--schemas", "nowhere"))


def test_missing_allow_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "--allow gone.json: no such file" in one_error(compat(capsys, "--against", "base", "--allow", "gone.json"))


def test_missing_code_folder(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "--code elsewhere: no such folder" in one_error(compat(capsys, "--against", "base", "--code", "elsewhere"))


def test_against_is_required(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "compat needs a baseline" in one_error(compat(capsys))


def test_schemas_missing_at_the_ref(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(repo / "schemas", repo / "other")
    assert "other does not exist at that commit" in one_error(compat(capsys, "--against", "HEAD", "--schemas", "other"))
