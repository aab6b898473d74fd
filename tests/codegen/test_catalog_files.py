"""The catalog loader (tchu/catalog_files.py): one test per lint rule, and how ``$ref`` is resolved.

Every problem must name the file (as ``schemas/<name>``), the JSON pointer inside it and say what to do. The
catalogs are small folders written into ``tmp_path``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tchu.catalog_files import CatalogEntry, CatalogError, Problem, load_catalog

EXAMPLE_CATALOG = Path(__file__).resolve().parents[2] / "schemas"

MONEY = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://schemas.example.com/money.json",
    "title": "Money",
    "type": "object",
    "properties": {"amount": {"type": "number"}, "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}},
    "required": ["amount", "currency"],
    "additionalProperties": False,
    "examples": [{"amount": 1, "currency": "EUR"}],
}


def event(properties: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A valid event schema; ``extra`` adds or replaces top-level keys (``x_tchu`` for ``x-tchu``)."""
    doc: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties if properties is not None else {"user_id": {"type": "integer"}},
    }
    for key, value in extra.items():
        doc[key.replace("x_tchu", "x-tchu")] = value
    return doc


def write(root: Path, files: dict[str, Any]) -> Path:
    """Write a catalog: values are JSON documents, or raw text when they are ``str``."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return root


def load(root: Path) -> list[CatalogEntry]:
    return load_catalog(root, label="schemas")


def problems(root: Path) -> list[Problem]:
    with pytest.raises(CatalogError) as info:
        load(root)
    return info.value.problems


def only_problem(root: Path) -> Problem:
    found = problems(root)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def entry(root: Path, key: str) -> CatalogEntry:
    return next(e for e in load(root) if e.routing_key == key)


# --- file names ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["User.created.json", "user-created.json", "user..created.json", "user created.json"])
def test_file_stem_must_be_a_routing_key(tmp_path: Path, name: str) -> None:
    p = only_problem(write(tmp_path, {name: event()}))
    assert (p.file, p.pointer) == (f"schemas/{name}", "")
    assert "file name must be the routing key" in p.message
    assert "lowercase" in p.message


@pytest.mark.parametrize("name", ["user.*.json", "user.#.json", "#.json"])
def test_wildcard_in_file_name(tmp_path: Path, name: str) -> None:
    p = only_problem(write(tmp_path, {name: event()}))
    assert (p.file, p.pointer) == (f"schemas/{name}", "")
    assert "wildcards belong in subscriptions" in p.message


# --- the document -------------------------------------------------------------------------------------------


def test_invalid_json(tmp_path: Path) -> None:
    p = only_problem(write(tmp_path, {"user.created.json": '{"type": "object",\n "properties": }'}))
    assert (p.file, p.pointer) == ("schemas/user.created.json", "")
    assert p.message.startswith("not valid JSON: ")
    assert "line 2" in p.message  # where to look


@pytest.mark.parametrize("doc", [[], "object", 1, None])
def test_root_must_be_an_object(tmp_path: Path, doc: Any) -> None:
    p = only_problem(write(tmp_path, {"user.created.json": json.dumps(doc)}))
    assert (p.file, p.pointer) == ("schemas/user.created.json", "")
    assert p.message == "a schema file holds a JSON object"


@pytest.mark.parametrize("typ", ["array", "string", ["object", "null"], None])
def test_payload_type_must_be_object(tmp_path: Path, typ: Any) -> None:
    doc = event()
    if typ is None:
        del doc["type"]
    else:
        doc["type"] = typ
    p = only_problem(write(tmp_path, {"user.created.json": doc}))
    assert (p.file, p.pointer) == ("schemas/user.created.json", "/type")
    assert '"type": "object"' in p.message


def test_invalid_against_the_2020_12_metaschema(tmp_path: Path) -> None:
    p = only_problem(write(tmp_path, {"user.created.json": event({"x": {"type": "integer", "minimum": "zero"}})}))
    assert (p.file, p.pointer) == ("schemas/user.created.json", "/properties/x/minimum")
    assert p.message.startswith("not valid JSON Schema 2020-12: ")
    assert "'zero'" in p.message


def test_every_metaschema_error_of_a_file_is_reported(tmp_path: Path) -> None:
    doc = event({"x": {"type": "integer", "minimum": "zero"}, "y": {"type": "strin"}}, required="x")
    found = problems(write(tmp_path, {"user.created.json": doc}))
    assert {p.pointer for p in found} == {"/properties/x/minimum", "/properties/y/type", "/required"}
    assert {p.file for p in found} == {"schemas/user.created.json"}


# --- $ref ---------------------------------------------------------------------------------------------------


def test_ref_to_a_missing_file(tmp_path: Path) -> None:
    doc = event({"total": {"$ref": "_defs/nope.json"}})
    p = only_problem(write(tmp_path, {"order.created.json": doc}))
    assert (p.file, p.pointer) == ("schemas/order.created.json", "/properties/total/$ref")
    assert "'_defs/nope.json'" in p.message
    assert "does not resolve" in p.message


def test_ref_outside_the_catalog_folder(tmp_path: Path) -> None:
    write(tmp_path, {"outside.json": MONEY})
    doc = event({"total": {"$ref": "../outside.json"}})
    p = only_problem(write(tmp_path / "schemas", {"order.created.json": doc}))
    assert (p.file, p.pointer) == ("schemas/order.created.json", "/properties/total/$ref")
    assert "no file '../outside.json' in the catalog" in p.message


def test_ref_fragment_that_does_not_exist_in_the_other_file(tmp_path: Path) -> None:
    doc = event({"amount": {"$ref": "_defs/money.json#/properties/nope"}})
    p = only_problem(write(tmp_path, {"_defs/money.json": MONEY, "order.created.json": doc}))
    assert (p.file, p.pointer) == ("schemas/order.created.json", "/properties/amount/$ref")
    assert "no '/properties/nope' in '_defs/money.json'" in p.message


def test_local_ref_fragment_that_does_not_exist(tmp_path: Path) -> None:
    doc = event({"amount": {"$ref": "#/$defs/Nope"}})
    p = only_problem(write(tmp_path, {"order.created.json": doc}))
    assert (p.file, p.pointer) == ("schemas/order.created.json", "/properties/amount/$ref")
    assert "'#/$defs/Nope' does not resolve in this file" in p.message


@pytest.mark.parametrize("ref", ["http://schemas.example.com/money.json", "https://example.com/money.json#/x"])
def test_remote_ref(tmp_path: Path, ref: str) -> None:
    p = only_problem(write(tmp_path, {"order.created.json": event({"total": {"$ref": ref}})}))
    assert (p.file, p.pointer) == ("schemas/order.created.json", "/properties/total/$ref")
    assert "remote references are not resolved" in p.message
    assert "_defs/" in p.message  # says where to put a copy


@pytest.mark.parametrize("ref", ["#money", "_defs/money.json#amount"])
def test_non_pointer_fragment(tmp_path: Path, ref: str) -> None:
    doc = event({"total": {"$ref": ref}})
    p = only_problem(write(tmp_path, {"_defs/money.json": MONEY, "order.created.json": doc}))
    assert (p.file, p.pointer) == ("schemas/order.created.json", "/properties/total/$ref")
    assert "only JSON-pointer fragments (#/...) are supported" in p.message


def test_ref_to_a_defs_file_holding_null(tmp_path: Path) -> None:
    doc = event({"total": {"$ref": "_defs/money.json"}})
    found = problems(write(tmp_path, {"_defs/money.json": "null", "order.created.json": doc}))
    assert ("schemas/_defs/money.json", "") in {(p.file, p.pointer) for p in found}


def test_invalid_defs_file_is_reported_once_in_that_file(tmp_path: Path) -> None:
    money = {"type": "object", "properties": {"amount": {"type": "number", "minimum": "zero"}}}
    write(
        tmp_path,
        {
            "_defs/money.json": money,
            "order.created.json": event({"total": {"$ref": "_defs/money.json"}}),
            "order.refunded.json": event({"refund": {"$ref": "_defs/money.json"}}),
        },
    )
    p = only_problem(tmp_path)
    assert (p.file, p.pointer) == ("schemas/_defs/money.json", "/properties/amount/minimum")
    assert "\n" not in p.message


def test_problem_inside_a_defs_file_names_that_file(tmp_path: Path) -> None:
    address = {"type": "object", "properties": {"country": {"$ref": "country.json"}}}
    doc = event({"address": {"$ref": "_defs/address.json"}})
    p = only_problem(write(tmp_path, {"_defs/address.json": address, "user.created.json": doc}))
    assert (p.file, p.pointer) == ("schemas/_defs/address.json", "/properties/country/$ref")
    assert "'country.json'" in p.message


def test_ref_in_the_response_is_pointed_at_under_x_tchu(tmp_path: Path) -> None:
    response = {"type": "object", "properties": {"total": {"$ref": "_defs/nope.json"}}}
    doc = event(x_tchu={"kind": "rpc", "response": response})
    p = only_problem(write(tmp_path, {"order.quote.json": doc}))
    assert (p.file, p.pointer) == ("schemas/order.quote.json", "/x-tchu/response/properties/total/$ref")


# --- examples -----------------------------------------------------------------------------------------------


def test_example_that_does_not_validate(tmp_path: Path) -> None:
    doc = event({"user_id": {"type": "integer"}}, required=["user_id"], examples=[{"user_id": 1}, {"user_id": "1"}])
    p = only_problem(write(tmp_path, {"user.created.json": doc}))
    assert (p.file, p.pointer) == ("schemas/user.created.json", "/examples/1")
    assert p.message.startswith("example does not validate: $.user_id: ")
    assert "integer" in p.message


def test_example_is_checked_against_resolved_refs(tmp_path: Path) -> None:
    doc = event({"total": {"$ref": "_defs/money.json"}}, examples=[{"total": {"amount": 1, "currency": "euro"}}])
    p = only_problem(write(tmp_path, {"_defs/money.json": MONEY, "order.created.json": doc}))
    assert (p.file, p.pointer) == ("schemas/order.created.json", "/examples/0")
    assert "$.total.currency" in p.message


# --- x-tchu -------------------------------------------------------------------------------------------------


def test_rpc_without_response(tmp_path: Path) -> None:
    p = only_problem(write(tmp_path, {"user.validate.json": event(x_tchu={"kind": "rpc"})}))
    assert (p.file, p.pointer) == ("schemas/user.validate.json", "/x-tchu/response")
    assert "an rpc topic needs a response schema" in p.message


def test_response_on_an_event(tmp_path: Path) -> None:
    doc = event(x_tchu={"response": {"type": "object"}})
    p = only_problem(write(tmp_path, {"user.created.json": doc}))
    assert (p.file, p.pointer) == ("schemas/user.created.json", "/x-tchu/response")
    assert "only rpc topics have a response; set kind to 'rpc'" in p.message


def test_invalid_response_schema_is_pointed_at_under_x_tchu(tmp_path: Path) -> None:
    response = {"type": "object", "properties": {"n": {"type": "integer", "minimum": "zero"}}}
    doc = event(x_tchu={"kind": "rpc", "response": response})
    p = only_problem(write(tmp_path, {"order.quote.json": doc}))
    assert (p.file, p.pointer) == ("schemas/order.quote.json", "/x-tchu/response/properties/n/minimum")
    assert p.message.startswith("not valid JSON Schema 2020-12: ")


def test_unknown_kind(tmp_path: Path) -> None:
    p = only_problem(write(tmp_path, {"user.created.json": event(x_tchu={"kind": "stream"})}))
    assert (p.file, p.pointer) == ("schemas/user.created.json", "/x-tchu/kind")
    assert "'event' or 'rpc'" in p.message
    assert "'stream'" in p.message


def test_unknown_x_tchu_key(tmp_path: Path) -> None:
    p = only_problem(write(tmp_path, {"user.created.json": event(x_tchu={"owner": "users", "ownr": "x"})}))
    assert (p.file, p.pointer) == ("schemas/user.created.json", "/x-tchu/ownr")
    assert "unknown x-tchu key" in p.message
    assert "'owner'" in p.message  # lists the keys it knows


def test_x_tchu_must_be_an_object(tmp_path: Path) -> None:
    p = only_problem(write(tmp_path, {"user.created.json": event(x_tchu=["rpc"])}))
    assert (p.file, p.pointer) == ("schemas/user.created.json", "/x-tchu")
    assert "x-tchu must be an object" in p.message


@pytest.mark.parametrize("version", [0, -1, "1", 1.5, True])
def test_version_must_be_a_positive_int(tmp_path: Path, version: Any) -> None:
    p = only_problem(write(tmp_path, {"user.created.json": event(x_tchu={"version": version})}))
    assert (p.file, p.pointer) == ("schemas/user.created.json", "/x-tchu/version")
    assert "version must be an integer >= 1" in p.message
    assert repr(version) in p.message


@pytest.mark.parametrize(("key", "value", "typ"), [("deprecated", "yes", "bool"), ("owner", 7, "str")])
def test_metadata_field_types(tmp_path: Path, key: str, value: Any, typ: str) -> None:
    p = only_problem(write(tmp_path, {"user.created.json": event(x_tchu={key: value})}))
    assert (p.file, p.pointer) == ("schemas/user.created.json", f"/x-tchu/{key}")
    assert p.message == f"{key} must be a {typ}"


# --- the catalog as a whole ---------------------------------------------------------------------------------


def test_routing_key_name_collision(tmp_path: Path) -> None:
    p = only_problem(write(tmp_path, {"a.b_c.json": event(), "a_b.c.json": event()}))
    assert (p.file, p.pointer) == ("schemas", "")  # the folder: neither file alone is wrong
    assert "'a.b_c' and 'a_b.c' both generate 'a_b_c'" in p.message
    assert "rename one" in p.message


def test_missing_catalog_folder(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path / "nope", label="schemas")
    assert info.value.problems == [Problem("schemas", "", "catalog folder does not exist")]


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "User.created.json": event({"x": {"minimum": "zero"}}),
            "order.created.json": event({"total": {"$ref": "_defs/nope.json"}}, x_tchu={"version": 0}),
            "user.validate.json": event(x_tchu={"kind": "rpc"}),
            "user.deleted.json": "{",
            "user.updated.json": event(),  # fine: not reported
        },
    )
    with pytest.raises(CatalogError) as info:
        load(tmp_path)
    found = {(p.file, p.pointer) for p in info.value.problems}
    assert found == {
        ("schemas/User.created.json", ""),
        ("schemas/User.created.json", "/properties/x/minimum"),
        ("schemas/order.created.json", "/properties/total/$ref"),
        ("schemas/order.created.json", "/x-tchu/version"),
        ("schemas/user.deleted.json", ""),
        ("schemas/user.validate.json", "/x-tchu/response"),
    }
    lines = str(info.value).splitlines()
    assert lines[0] == "the catalog has 6 problem(s):"
    assert lines[1:] == [f"  {p.file}#{p.pointer}: {p.message}" for p in sorted(info.value.problems)]
    assert all("\n" not in p.message for p in info.value.problems)  # one line per problem


# --- resolving $ref (the positive side) ---------------------------------------------------------------------


def test_ref_into_defs_is_embedded_as_a_self_contained_schema(tmp_path: Path) -> None:
    doc = event({"total": {"$ref": "_defs/money.json"}, "tax": {"$ref": "_defs/money.json#/properties/amount"}})
    write(tmp_path, {"_defs/money.json": MONEY, "order.created.json": doc})
    schema = entry(tmp_path, "order.created").schema
    assert schema["properties"]["total"] == {"$ref": "#/$defs/Money"}
    assert schema["properties"]["tax"] == {"$ref": "#/$defs/Money/properties/amount"}
    embedded = schema["$defs"]["Money"]
    assert "$id" not in embedded
    assert "$schema" not in embedded
    assert "examples" not in embedded
    assert embedded["properties"] == MONEY["properties"]
    # self-contained: validates with no registry and no files
    validator = Draft202012Validator(schema)
    assert validator.is_valid({"total": {"amount": 1, "currency": "EUR"}, "tax": 2})
    assert not validator.is_valid({"total": {"amount": 1, "currency": "euro"}})
    assert not validator.is_valid({"tax": "2"})


def test_defs_file_referencing_another_defs_file(tmp_path: Path) -> None:
    country = {"title": "Country", "type": "string", "pattern": "^[A-Z]{2}$"}
    address = {
        "title": "Address",
        "type": "object",
        "properties": {"country": {"$ref": "country.json"}, "home": {"$ref": "#/$defs/Point"}},
        "$defs": {"Point": {"type": "array", "items": {"type": "number"}}},
    }
    doc = event({"address": {"$ref": "_defs/address.json"}})
    write(tmp_path, {"_defs/country.json": country, "_defs/address.json": address, "user.created.json": doc})
    schema = entry(tmp_path, "user.created").schema
    assert set(schema["$defs"]) == {"Address", "Country"}
    embedded = schema["$defs"]["Address"]["properties"]
    assert embedded["country"] == {"$ref": "#/$defs/Country"}
    assert embedded["home"] == {"$ref": "#/$defs/Address/$defs/Point"}  # local refs follow their copy
    validator = Draft202012Validator(schema)
    assert validator.is_valid({"address": {"country": "FR", "home": [1, 2]}})
    assert not validator.is_valid({"address": {"country": "France"}})
    assert not validator.is_valid({"address": {"home": ["x"]}})


def test_two_events_embedding_the_same_def(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "_defs/money.json": MONEY,
            "order.created.json": event({"total": {"$ref": "_defs/money.json"}}),
            "order.refunded.json": event({"refund": {"$ref": "_defs/money.json"}}),
        },
    )
    created, refunded = load(tmp_path)
    assert created.schema["$defs"] == refunded.schema["$defs"]
    assert list(created.schema["$defs"]) == ["Money"]


def test_two_defs_with_the_same_title_get_distinct_keys(tmp_path: Path) -> None:
    item_a = {"title": "Item", "type": "object", "properties": {"a": {"type": "integer"}}}
    item_b = {"title": "Item", "type": "object", "properties": {"b": {"type": "string"}}}
    doc = event({"a": {"$ref": "_defs/a.json"}, "b": {"$ref": "_defs/b.json"}})
    write(tmp_path, {"_defs/a.json": item_a, "_defs/b.json": item_b, "x.changed.json": doc})
    schema = entry(tmp_path, "x.changed").schema
    refs = {schema["properties"][k]["$ref"] for k in ("a", "b")}
    assert refs == {"#/$defs/Item", "#/$defs/Item2"}
    assert Draft202012Validator(schema).is_valid({"a": {"a": 1}, "b": {"b": "x"}})
    assert not Draft202012Validator(schema).is_valid({"b": {"b": 1}})


def test_digest_changes_when_a_referenced_defs_file_changes(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "_defs/money.json": MONEY,
            "order.created.json": event({"total": {"$ref": "_defs/money.json"}}),
            "user.created.json": event(),
        },
    )
    before = {e.routing_key: e.digest for e in load(tmp_path)}
    assert before == {e.routing_key: e.digest for e in load(tmp_path)}  # stable
    write(
        tmp_path, {"_defs/money.json": {**MONEY, "properties": {**MONEY["properties"], "cents": {"type": "integer"}}}}
    )
    after = {e.routing_key: e.digest for e in load(tmp_path)}
    assert after["order.created"] != before["order.created"]
    assert after["user.created"] == before["user.created"]


def test_digest_changes_with_metadata(tmp_path: Path) -> None:
    write(tmp_path, {"user.created.json": event(x_tchu={"version": 1})})
    before = entry(tmp_path, "user.created").digest
    write(tmp_path, {"user.created.json": event(x_tchu={"version": 2})})
    assert len(before) == 64
    assert entry(tmp_path, "user.created").digest != before


def test_example_catalog_loads() -> None:
    entries = load_catalog(EXAMPLE_CATALOG)
    assert [(e.routing_key, e.kind, e.version) for e in entries] == [
        ("order.calculate_total", "rpc", 1),
        ("order.created", "event", 1),
        ("order.payment.completed", "event", 1),
        ("user.created", "event", 1),
        ("user.deleted", "event", 1),
        ("user.updated", "event", 1),
        ("user.validate", "rpc", 1),
    ]
    assert all(e.source == f"schemas/{e.routing_key}.json" for e in entries)
    assert all((e.response is not None) == (e.kind == "rpc") for e in entries)
    by_key = {e.routing_key: e for e in entries}
    assert by_key["user.created"].description == "Published once per new account."  # x-tchu wins
    assert by_key["user.deleted"].description == "A user closed their account."
    assert "$defs" in by_key["order.created"].schema
    assert set(by_key["order.created"].schema["$defs"]) == {"Money", "OrderItem"}
    for e in entries:
        for example in e.examples:
            e.event_schema().validate(example)
