"""The catalog: JSON Schemas per routing key, compiled once, with every failing field named by JSON path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tchu import catalog as catalog_module
from tchu.catalog import Catalog, EventSchema, default_catalog, meta_valid
from tchu.errors import InvalidRoutingKeyError, PayloadValidationError, SetupError

USER_CREATED: dict[str, Any] = {
    "$id": "https://schemas.example.com/user.created.json",
    "type": "object",
    "required": ["user_id", "email"],
    "properties": {
        "user_id": {"type": "integer"},
        "email": {"type": "string", "format": "email"},
        "name": {"type": "string"},
    },
}

ORDER_CREATED: dict[str, Any] = {
    "type": "object",
    "required": ["order_id", "items"],
    "properties": {
        "order_id": {"type": "integer"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["sku", "quantity"],
                "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}},
            },
        },
    },
}


def problems_of(entry: EventSchema, payload: Any) -> list[tuple[str, str]]:
    with pytest.raises(PayloadValidationError) as info:
        entry.validate(payload)
    assert info.value.routing_key == entry.routing_key
    assert info.value.schema_id == entry.schema_id
    return info.value.errors()


def test_valid_payload_passes() -> None:
    entry = EventSchema("user.created", USER_CREATED)
    entry.validate({"user_id": 1, "email": "a@example.com"})
    entry.validate({"user_id": 1, "email": "a@example.com", "name": "Ada", "extra": True})


def test_missing_required_field_is_named_by_json_path() -> None:
    entry = EventSchema("user.created", USER_CREATED)
    assert problems_of(entry, {"user_id": 1}) == [("$.email", "is required")]


def test_every_missing_required_field_is_named() -> None:
    entry = EventSchema("user.created", USER_CREATED)
    problems = problems_of(entry, {"name": "Ada"})
    assert sorted(problems) == [("$.email", "is required"), ("$.user_id", "is required")]


def test_missing_field_path_is_spelled_like_jsonschema_paths() -> None:
    schema = {"type": "object", "required": ["first-name"], "properties": {"last-name": {"type": "string"}}}
    entry = EventSchema("user.created", schema)
    assert problems_of(entry, {"last-name": 1}) == [
        ("$['first-name']", "is required"),
        ("$['last-name']", '1 is not of type "string"'),
    ]


def test_nested_problems_use_json_paths_and_every_field_is_listed() -> None:
    entry = EventSchema("order.created", ORDER_CREATED)
    payload = {"order_id": "seven", "items": [{"sku": "a", "quantity": 0}, {"quantity": 2}]}
    assert problems_of(entry, payload) == [
        ("$.items[0].quantity", "0 is less than the minimum of 1"),
        ("$.items[1].sku", "is required"),
        ("$.order_id", '"seven" is not of type "integer"'),
    ]


def test_missing_nested_required_field_path() -> None:
    entry = EventSchema("order.created", ORDER_CREATED)
    assert problems_of(entry, {"order_id": 1, "items": [{"sku": "a"}]}) == [("$.items[0].quantity", "is required")]


def test_str_is_one_line_per_problem() -> None:
    entry = EventSchema("order.created", ORDER_CREATED)
    with pytest.raises(PayloadValidationError) as info:
        entry.validate({"order_id": "x", "items": [{"sku": 1, "quantity": 1}]})
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert lines[1].strip().startswith("$.items[0].sku: ")
    assert lines[2].strip().startswith("$.order_id: ")


def test_non_object_payload_is_reported_at_the_root() -> None:
    entry = EventSchema("user.created", USER_CREATED)
    assert problems_of(entry, ["not", "an", "object"]) == [("$", '["not","an","object"] is not of type "object"')]


# ------------------------------------------------------------------------------------------------ formats


def test_email_format_is_checked() -> None:
    entry = EventSchema("user.created", USER_CREATED)
    assert problems_of(entry, {"user_id": 1, "email": "not-an-email"}) == [
        ("$.email", '"not-an-email" is not a "email"')
    ]
    entry.validate({"user_id": 1, "email": "a@example.com"})


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("date", "2024-02-29", "2024-13-01"),
        ("uuid", "12345678-1234-5678-1234-567812345678", "not-a-uuid"),
        ("ipv4", "10.0.0.1", "10.0.0.256"),
        ("date-time", "2024-01-01T00:00:00Z", "yesterday"),
        ("uri", "https://example.com/x", "not a uri"),
    ],
)
def test_formats_are_enforced(fmt: str, good: str, bad: str) -> None:
    entry = EventSchema("a.b", {"type": "object", "properties": {"v": {"type": "string", "format": fmt}}})
    entry.validate({"v": good})
    assert problems_of(entry, {"v": bad}) == [("$.v", f'"{bad}" is not a "{fmt}"')]


# ------------------------------------------------------------------------------------------ compilation


def test_schema_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    real = catalog_module.jsonschema_rs.Draft202012Validator
    built: list[object] = []

    def counting(schema: Any, **kwargs: Any) -> Any:
        built.append(schema)
        return real(schema, **kwargs)

    monkeypatch.setattr(catalog_module.jsonschema_rs, "Draft202012Validator", counting)

    entry = EventSchema("user.created", USER_CREATED, response={"type": "object"})
    assert len(built) == 2  # the payload schema and the response schema, at definition time
    for _ in range(5):
        entry.validate({"user_id": 1, "email": "a@x"})
        entry.validate_response({})
    with pytest.raises(PayloadValidationError):
        entry.validate({})
    assert len(built) == 2


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "nope"},
        {"type": "object", "required": "email"},
        {"properties": {"a": {"minimum": "one"}}},
    ],
)
def test_invalid_schema_raises_setup_error_at_definition(schema: dict[str, Any]) -> None:
    with pytest.raises(SetupError, match="not a valid JSON Schema") as info:
        EventSchema("bad.schema", schema)
    assert "schema of bad.schema" in str(info.value)


def test_invalid_response_schema_raises_setup_error() -> None:
    with pytest.raises(SetupError, match=r"x-tchu/response"):
        EventSchema("order.total", {"type": "object"}, kind="rpc", response={"type": 5})


def test_schema_id_comes_from_id_then_argument_then_routing_key() -> None:
    assert EventSchema("user.created", USER_CREATED).schema_id == USER_CREATED["$id"]
    assert EventSchema("user.created", {"type": "object"}).schema_id == "schema of user.created"
    explicit = EventSchema("user.created", USER_CREATED, schema_id="schemas/user.created.json")
    assert explicit.schema_id == "schemas/user.created.json"


def test_validate_response() -> None:
    entry = EventSchema(
        "order.total",
        {"type": "object"},
        kind="rpc",
        response={"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}},
    )
    entry.validate_response({"total": 10.5})
    with pytest.raises(PayloadValidationError) as info:
        entry.validate_response({"total": "ten"})
    assert info.value.errors() == [("$.total", '"ten" is not of type "number"')]
    assert info.value.schema_id == "schema of order.total#/x-tchu/response"
    with pytest.raises(PayloadValidationError, match=r"\$\.total: is required"):
        entry.validate_response({})


def test_validate_response_without_a_response_schema_is_a_no_op() -> None:
    entry = EventSchema("user.created", USER_CREATED)
    entry.validate_response("anything")
    entry.validate_response(None)


# ----------------------------------------------------------------------------------------------- catalog


def test_catalog_register_get_keys_clear() -> None:
    catalog = Catalog()
    assert catalog.keys() == []
    assert catalog.get("user.created") is None
    user = catalog.register(EventSchema("user.created", USER_CREATED, version=2))
    order = catalog.register(EventSchema("order.created", ORDER_CREATED))
    assert catalog.get("user.created") is user
    assert catalog.get("order.created") is order
    assert catalog.keys() == ["order.created", "user.created"]
    catalog.clear()
    assert catalog.keys() == []
    assert catalog.get("user.created") is None


def test_register_replaces_the_entry_of_the_same_key() -> None:
    catalog = Catalog()
    catalog.register(EventSchema("user.created", USER_CREATED, version=1))
    newer = catalog.register(EventSchema("user.created", USER_CREATED, version=2))
    assert catalog.get("user.created") is newer
    assert catalog.keys() == ["user.created"]


@pytest.mark.parametrize("key", ["user.*", "user.#", "user..created", ""])
def test_register_rejects_keys_that_cannot_be_published(key: str) -> None:
    catalog = Catalog()
    with pytest.raises(InvalidRoutingKeyError):
        catalog.register(EventSchema(key, {"type": "object"}))
    assert catalog.keys() == []


def test_strict_flag() -> None:
    assert Catalog().strict is False
    assert Catalog(strict=True).strict is True
    assert default_catalog.strict is False


def test_catalogs_are_independent() -> None:
    default_keys = default_catalog.keys()
    one, two = Catalog(), Catalog()
    one.register(EventSchema("independent.key", USER_CREATED))
    assert two.keys() == []
    assert default_catalog.keys() == default_keys
    assert default_catalog.get("independent.key") is None


# ------------------------------------------------------------------------------------------ sensitive fields

SIGN_UP = EventSchema(
    "user.signed_up",
    {
        "type": "object",
        "$defs": {"Secret": {"type": "string", "minLength": 8, "x-tchu-sensitive": True}},
        "properties": {
            "email": {"type": "string", "format": "email"},
            "password": {"type": "string", "minLength": 8, "writeOnly": True},
            "token": {"$ref": "#/$defs/Secret"},
            "cards": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "pan": {"type": "string", "pattern": "^[0-9]{16}$", "x-tchu-sensitive": True},
                        "brand": {"type": "string"},
                    },
                },
            },
            "vault": {"type": "object", "additionalProperties": {"type": "string", "x-tchu-sensitive": True}},
            "extra": {"type": "object", "patternProperties": {"^pin_": {"x-tchu-sensitive": True}}},
            "both": {"allOf": [{"type": "object"}, {"properties": {"cvv": {"writeOnly": True}}}]},
        },
    },
)


def test_mask_hides_every_value_marked_sensitive_and_leaves_the_payload_alone() -> None:
    payload = {
        "email": "ann@example.com",
        "password": "correct horse",
        "token": "tok_12345678",
        "cards": [{"pan": "4242424242424242", "brand": "visa"}],
        "vault": {"a": "s1", "b": "s2"},
        "extra": {"pin_main": 1234, "label": "x"},
        "both": {"cvv": "123", "name": "Ann"},
    }
    original = json.loads(json.dumps(payload))
    assert SIGN_UP.mask(payload) == {
        "email": "ann@example.com",
        "password": "***",
        "token": "***",
        "cards": [{"pan": "***", "brand": "visa"}],
        "vault": {"a": "***", "b": "***"},
        "extra": {"pin_main": "***", "label": "x"},
        "both": {"cvv": "***", "name": "Ann"},
    }
    assert payload == original


def test_a_schema_without_sensitive_fields_masks_nothing() -> None:
    plain = EventSchema("a.b", {"type": "object", "properties": {"x": {"type": "string"}}})
    payload = {"x": "visible"}
    assert plain.mask(payload) is payload


def test_validation_errors_never_quote_a_sensitive_value() -> None:
    payload = {"email": "nope", "password": "hunter2", "token": "abc", "cards": [{"pan": "12-34"}]}
    with pytest.raises(PayloadValidationError) as info:
        SIGN_UP.validate(payload)
    text = str(info.value)
    for secret in ("hunter2", "abc", "12-34"):
        assert secret not in text
    assert dict(info.value.errors()) == {
        "$.email": '"nope" is not a "email"',
        "$.password": "fails minLength (value hidden: a sensitive field)",
        "$.token": "fails minLength (value hidden: a sensitive field)",
        "$.cards[0].pan": "fails pattern (value hidden: a sensitive field)",
    }


def test_a_plain_value_that_looks_like_the_mask_is_still_quoted() -> None:
    with pytest.raises(PayloadValidationError, match=r'"\*\*\*" is not a "email"'):
        SIGN_UP.validate({"email": "***"})


@pytest.mark.parametrize(
    ("schema", "valid"),
    [
        ({"type": "object", "properties": {"a": {"type": "string", "pattern": "^[a-z]+$"}}}, True),
        ({"type": "nope"}, False),
        ({"type": "string", "pattern": "(?<name>x)"}, False),  # ECMA syntax Python's re refuses: jsonschema would
        ({"patternProperties": {"[": {"type": "string"}}}, False),
        ({"examples": [{"pattern": "["}]}, False),  # data, not a pattern: a false alarm jsonschema then clears
    ],
)
def test_meta_valid_is_true_only_for_what_jsonschema_accepts(schema: dict[str, Any], valid: bool) -> None:
    assert meta_valid(schema) is valid
    if valid:
        Draft202012Validator.check_schema(schema)  # what meta_valid stands for


def test_a_pattern_pythons_re_refuses_is_a_setup_error_naming_it() -> None:
    with pytest.raises(SetupError, match=r"not a 'regex'"):
        EventSchema("bad.pattern", {"type": "string", "pattern": "(?<name>x)"})


def test_a_false_alarm_of_the_fast_check_costs_time_not_a_refusal() -> None:
    EventSchema("data.pattern", {"type": "object", "examples": [{"pattern": "["}]})
