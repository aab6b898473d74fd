"""``python -m codegen.asyncapi``: the catalog as an AsyncAPI 3.0 document.

Documents are validated against the official AsyncAPI 3.0.0 JSON Schema (``asyncapi/3.0.0.json``, from the npm
package ``@asyncapi/specs``; see ``asyncapi/README.md``), offline. That schema cannot see whether a ``$ref``
resolves or whether a payload schema means what the catalog says, so the tests also resolve every reference and
validate the catalog's examples and real wire messages against the exported schemas.
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from catalog_support import catalog, write
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT7

from codegen import asyncapi
from codegen.__main__ import main as codegen_main
from codegen.asyncapi import build, main, roles
from tchu.catalog_files import load_catalog, resolve_pointer
from tchu.envelope import Envelope
from tchu.errors import InvalidPatternError

ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = Path(__file__).resolve().parent / "asyncapi"
SPEC_SHA256 = "d4571a420e6ffb7fcc7066c95a6db1202f299a3c51daa103d0706bf30f95e626"
EVENTS = ["order.created", "order.payment.completed", "user.created", "user.deleted", "user.updated"]
RPCS = ["order.calculate_total", "user.validate"]
# The example services of examples/: analytics listens to user.* and #, users answers user.validate.
CONSUMERS = {
    "analytics": ["user.*", "#"],
    "notifications": ["user.created"],
    "users": ["user.deleted", "user.validate"],
}
PRODUCERS = {"web": ["user.validate", "order.calculate_total"], "backoffice": ["user.deleted"]}
DOC_URI = "urn:tchu:asyncapi-under-test"


def _no_network(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=f"{uri} (the AsyncAPI schema must resolve offline)")


@pytest.fixture(scope="module")
def spec_validator() -> Draft7Validator:
    spec = json.loads((SPEC_DIR / "3.0.0.json").read_text(encoding="utf-8"))
    resources = [(sub["$id"], DRAFT7.create_resource(sub)) for sub in spec["definitions"].values()]
    registry: Registry[Any] = Registry(retrieve=_no_network).with_resources(resources)
    return Draft7Validator(spec, registry=registry)


def spec_errors(validator: Draft7Validator, document: dict[str, Any]) -> list[str]:
    return [f"{e.json_path}: {e.message[:300]}" for e in validator.iter_errors(document)]


def event(properties: dict[str, Any], *, examples: list[Any] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": sorted(properties),
        "additionalProperties": False,
        "examples": examples or [],
        "x-tchu": meta,
    }


def refs(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every ``$ref`` of a document, with where it is; example payloads are data and are not searched."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield path, value
            elif key != "examples":
                yield from refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from refs(item, f"{path}/{i}")


def lookup(document: Any, ref: str) -> Any:
    node = resolve_pointer(document, ref.removeprefix("#"))
    if node is None:
        raise LookupError(ref)
    return node


def broken_references(document: dict[str, Any]) -> list[str]:
    """References that do not resolve, and operations naming messages of another channel than their own."""
    broken = []
    for where, ref in refs(document):
        try:
            lookup(document, ref)
        except LookupError:
            broken.append(f"{where}: {ref}")
    for op_id, op in document.get("operations", {}).items():
        for part in (op, op.get("reply") or {}):
            channel = part.get("channel", {}).get("$ref", "")
            broken += [
                f"operations/{op_id}: {m['$ref']} is not a message of {channel}"
                for m in part.get("messages", [])
                if not m["$ref"].startswith(f"{channel}/messages/")
            ]
    return broken


def payload_validator(document: dict[str, Any], message_id: str, part: str = "payload") -> Draft7Validator:
    """A validator for a message's payload (or headers) schema, resolving its refs inside the document."""
    registry: Registry[Any] = Registry(retrieve=_no_network).with_resource(DOC_URI, DRAFT7.create_resource(document))
    ref = document["components"]["messages"][message_id][part]["$ref"]
    return Draft7Validator({"$ref": DOC_URI + ref}, registry=registry)


# -- the vendored schema -------------------------------------------------------------------------------------


def test_the_vendored_schema_is_the_official_file_with_its_licence() -> None:
    digest = hashlib.sha256((SPEC_DIR / "3.0.0.json").read_bytes()).hexdigest()
    assert digest == SPEC_SHA256, "asyncapi/3.0.0.json changed: it must stay the file @asyncapi/specs ships"
    spec = json.loads((SPEC_DIR / "3.0.0.json").read_text(encoding="utf-8"))
    assert spec["$id"] == "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
    assert spec["properties"]["asyncapi"]["const"] == "3.0.0"
    Draft7Validator.check_schema(spec)
    assert "Apache License" in (SPEC_DIR / "LICENSE").read_text(encoding="utf-8")
    assert "AsyncAPI Initiative" in (SPEC_DIR / "NOTICE").read_text(encoding="utf-8")


BROKEN = [
    ("wrong spec version", lambda d: d.update(asyncapi="2.6.0")),
    ("operation without action", lambda d: d["operations"]["users.send.user.created"].pop("action")),
    ("unknown action", lambda d: d["operations"]["users.send.user.created"].update(action="publish")),
    (
        "routingKey binding with a queue",
        lambda d: d["channels"]["user.created"]["bindings"]["amqp"].update(queue={"name": "q"}),
    ),
    ("exchange type", lambda d: d["channels"]["user.created"]["bindings"]["amqp"]["exchange"].update(type="fan")),
    ("payload schema type", lambda d: d["components"]["schemas"]["UserCreated"].update(type=5)),
    (
        "nested payload schema",
        lambda d: d["components"]["schemas"]["Money"]["properties"].update(amount={"minimum": "0"}),
    ),
    ("example without payload", lambda d: d["components"]["messages"]["user.created"]["examples"][0].pop("payload")),
    ("reply address", lambda d: d["operations"]["web.send.user.validate"]["reply"].update(address={"location": "x"})),
    ("channel property", lambda d: d["channels"]["user.created"].update(routingKey="user.created")),
]


@pytest.mark.parametrize(("what", "breaks"), BROKEN, ids=[b[0] for b in BROKEN])
def test_the_validator_rejects_a_broken_document(spec_validator: Draft7Validator, what: str, breaks: Any) -> None:
    document = build(catalog(), consumers=CONSUMERS, producers=PRODUCERS)
    assert spec_errors(spec_validator, document) == []
    broken = copy.deepcopy(document)
    breaks(broken)
    assert spec_errors(spec_validator, broken), f"{what}: the official schema accepted a broken document"


def test_the_reference_check_finds_dangling_and_misplaced_references() -> None:
    document = build(catalog(), consumers=CONSUMERS, producers=PRODUCERS)
    assert broken_references(document) == []
    document["components"]["schemas"]["OrderCreated"]["properties"]["total"] = {"$ref": "#/components/schemas/Nope"}
    document["operations"]["users.send.user.created"]["messages"] = [
        {"$ref": "#/channels/user.deleted/messages/user.deleted"}
    ]
    assert broken_references(document) == [
        "/components/schemas/OrderCreated/properties/total: #/components/schemas/Nope",
        (
            "operations/users.send.user.created: #/channels/user.deleted/messages/user.deleted is not a message of "
            "#/channels/user.created"
        ),
    ]


# -- the repository's catalog --------------------------------------------------------------------------------


def test_the_repository_catalog_validates(spec_validator: Draft7Validator) -> None:
    for consumers, producers in (({}, {}), (CONSUMERS, PRODUCERS)):
        document = build(catalog(), consumers=consumers, producers=producers)
        assert spec_errors(spec_validator, document) == []
        assert broken_references(document) == []


def test_channels_and_messages_follow_the_catalog() -> None:
    document = build(catalog(), consumers=CONSUMERS, producers=PRODUCERS, title="Shop", version="2.1.0")
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] == "Shop"
    assert document["info"]["version"] == "2.1.0"
    channels = document["channels"]
    assert sorted(channels) == sorted([*EVENTS, *RPCS, *(f"{k}-reply" for k in RPCS)])
    for key in EVENTS:
        assert channels[key]["address"] == key
        assert channels[key]["bindings"]["amqp"] == {
            "is": "routingKey",
            "exchange": {"name": "tchu_events", "type": "topic", "durable": True, "autoDelete": False},
            "bindingVersion": "0.3.0",
        }
        assert channels[key]["messages"] == {key: {"$ref": f"#/components/messages/{key}"}}
    for key in RPCS:
        assert channels[key]["address"] == f"tchu.rpc.{key}"
        assert channels[key]["bindings"]["amqp"]["is"] == "queue"
        assert channels[key]["bindings"]["amqp"]["queue"]["name"] == f"tchu.rpc.{key}"
        assert channels[f"{key}-reply"]["address"] is None  # the result backend, not a known address
    messages = document["components"]["messages"]
    created = messages["user.created"]
    assert created["payload"] == {"$ref": "#/components/schemas/UserCreated"}
    assert created["summary"] == "Published once per new account."
    assert created["examples"][0]["payload"]["email"] == "user@example.com"
    assert "tchu_tchu.dispatch_event" in created["description"]
    assert '{"routing_key": "user.created"}' in created["description"]
    assert "deprecated" not in created
    assert messages["user.validate-reply"]["payload"] == {"$ref": "#/components/schemas/UserValidateResponse"}
    schemas = document["components"]["schemas"]
    assert schemas["UserValidateResponse"]["required"] == ["valid", "email"]
    assert "$schema" not in schemas["UserCreated"]
    assert "$defs" not in schemas["OrderCreated"]


def test_operations_follow_owners_producers_and_consumers() -> None:
    consumers = {**CONSUMERS, "audit": ["#"]}
    document = build(catalog(), consumers=consumers, producers=PRODUCERS)
    operations = document["operations"]
    sends = {(op["x-tchu"]["service"], op["channel"]["$ref"]) for op in operations.values() if op["action"] == "send"}
    receives = {
        (op["x-tchu"]["service"], op["channel"]["$ref"]) for op in operations.values() if op["action"] == "receive"
    }
    expected_sends = {
        ("orders", "order.created"),
        ("payments", "order.payment.completed"),
        ("users", "user.created"),
        ("users", "user.deleted"),
        ("backoffice", "user.deleted"),
        ("users", "user.updated"),
        ("web", "user.validate"),
        ("web", "order.calculate_total"),
    }
    assert sends == {(s, f"#/channels/{k}") for s, k in expected_sends}
    expected_receives = {
        *(("audit", k) for k in EVENTS),  # '#' receives every event ...
        *(("analytics", k) for k in EVENTS),
        ("notifications", "user.created"),
        ("users", "user.deleted"),
        ("users", "user.validate"),  # ... but rpc requests only reach their responders
        ("orders", "order.calculate_total"),  # the owner of an rpc topic answers it
    }
    assert receives == {(s, f"#/channels/{k}") for s, k in expected_receives}
    analytics = operations["analytics.receive.user.created"]
    assert analytics["x-tchu"] == {"service": "analytics", "queue": "analytics_queue", "patterns": ["user.*", "#"]}
    assert operations["audit.receive.order.created"]["x-tchu"]["patterns"] == ["#"]
    assert operations["users.send.user.created"]["messages"] == [
        {"$ref": "#/channels/user.created/messages/user.created"}
    ]
    assert operations["users.send.user.created"]["bindings"]["amqp"]["deliveryMode"] == 2


def test_rpc_operations_have_a_reply_with_the_response_message() -> None:
    operations = build(catalog(), consumers=CONSUMERS, producers=PRODUCERS)["operations"]
    reply = {
        "channel": {"$ref": "#/channels/user.validate-reply"},
        "messages": [{"$ref": "#/channels/user.validate-reply/messages/user.validate-reply"}],
    }
    assert operations["web.send.user.validate"]["reply"] == reply
    assert operations["users.receive.user.validate"]["reply"] == reply
    for op_id, op in operations.items():
        assert ("reply" in op) == (op["channel"]["$ref"].removeprefix("#/channels/") in RPCS), op_id
    assert not [op for op in operations if op.startswith("analytics.") and "validate" in op]


def test_roles() -> None:
    entries = {e.routing_key: e for e in catalog()}
    who = roles(entries["user.created"], {"a": ["user.#"], "b": ["order.*"], "c": ["*.created", "user.created"]})
    assert who.senders == ("users",)
    assert who.receivers == {"a": ("user.#",), "c": ("*.created", "user.created")}
    rpc = roles(entries["user.validate"], {"a": ["user.*", "#"], "b": ["user.validate"]}, {"x": ["user.validate"]})
    assert rpc.senders == ("x",)
    assert rpc.receivers == {"b": ("user.validate",), "users": ()}
    with pytest.raises(InvalidPatternError):
        roles(entries["user.created"], {"a": ["user*"]})


def test_deprecated_events_are_flagged(tmp_path: Path, spec_validator: Draft7Validator) -> None:
    write(
        tmp_path,
        {
            "old.thing.json": event({"id": {"type": "integer"}}, owner="legacy", deprecated=True),
            "new.thing.json": event({"id": {"type": "integer"}}, owner="core"),
        },
    )
    document = build(load_catalog(tmp_path))
    messages = document["components"]["messages"]
    assert messages["old.thing"]["deprecated"] is True
    assert messages["old.thing"]["x-tchu"]["deprecated"] is True
    assert messages["old.thing"]["description"].startswith("**Deprecated.**")
    assert "deprecated" not in messages["new.thing"]
    assert spec_errors(spec_validator, document) == []


# -- schemas and $ref ----------------------------------------------------------------------------------------

MONEY = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Money",
    "type": "object",
    "properties": {
        "amount": {"type": "number", "minimum": 0},
        "currency": {"$ref": "currency.json"},
    },
    "required": ["amount", "currency"],
    "additionalProperties": False,
}
CURRENCY = {"title": "Currency", "type": "string", "pattern": "^[A-Z]{3}$"}
PRICE = {"amount": 2.5, "currency": "EUR"}


def test_defs_become_shared_components(tmp_path: Path, spec_validator: Draft7Validator) -> None:
    write(
        tmp_path,
        {
            "_defs/money.json": MONEY,
            "_defs/currency.json": CURRENCY,
            "cart.priced.json": event(
                {
                    "total": {"$ref": "_defs/money.json", "description": "Everything, taxes included."},
                    "lines": {"type": "array", "items": {"$ref": "_defs/money.json"}},
                },
                examples=[{"total": PRICE, "lines": [PRICE]}],
            ),
            "refund.issued.json": event({"amount": {"$ref": "_defs/money.json"}}, examples=[{"amount": PRICE}]),
        },
    )
    document = build(load_catalog(tmp_path))
    assert spec_errors(spec_validator, document) == []
    assert broken_references(document) == []
    schemas = document["components"]["schemas"]
    assert {"Money", "Currency", "CartPriced", "RefundIssued"} <= set(schemas)
    assert not [
        name for name in schemas if name.startswith(("Money", "Currency")) and name not in {"Money", "Currency"}
    ]
    assert schemas["Money"]["properties"]["currency"] == {"$ref": "#/components/schemas/Currency"}
    # 2020-12 applies keywords beside $ref, draft-07 ignores them: the description moves next to an allOf
    assert schemas["CartPriced"]["properties"]["total"] == {
        "description": "Everything, taxes included.",
        "allOf": [{"$ref": "#/components/schemas/Money"}],
    }
    assert schemas["CartPriced"]["properties"]["lines"]["items"] == {"$ref": "#/components/schemas/Money"}
    cart = payload_validator(document, "cart.priced")
    cart.validate({"total": PRICE, "lines": [PRICE]})
    with pytest.raises(ValidationError, match="does not match"):
        cart.validate({"total": PRICE, "lines": [{"amount": 1, "currency": "euro"}]})
    with pytest.raises(ValidationError, match="-1 is less than the minimum"):
        payload_validator(document, "refund.issued").validate({"amount": {"amount": -1, "currency": "EUR"}})


def test_definitions_with_the_same_name_stay_apart(tmp_path: Path, spec_validator: Draft7Validator) -> None:
    other_money = {"title": "Money", "type": "integer", "description": "Cents."}
    write(
        tmp_path,
        {
            "_defs/money.json": MONEY,
            "_defs/currency.json": CURRENCY,
            "_defs/cents.json": other_money,
            "a.paid.json": event({"price": {"$ref": "_defs/money.json"}}),
            "b.paid.json": event({"price": {"$ref": "_defs/cents.json"}}),
            "c.paid.json": event({"price": {"$ref": "_defs/cents.json"}, "again": {"$ref": "_defs/money.json"}}),
        },
    )
    document = build(load_catalog(tmp_path))
    assert spec_errors(spec_validator, document) == []
    assert broken_references(document) == []
    schemas = document["components"]["schemas"]
    a_ref = schemas["APaid"]["properties"]["price"]["$ref"]
    b_ref = schemas["BPaid"]["properties"]["price"]["$ref"]
    assert a_ref != b_ref
    assert lookup(document, a_ref)["type"] == "object"
    assert lookup(document, b_ref) == {"title": "Money", "type": "integer", "description": "Cents."}
    assert schemas["CPaid"]["properties"]["price"]["$ref"] == b_ref
    assert schemas["CPaid"]["properties"]["again"]["$ref"] == a_ref
    payload_validator(document, "c.paid").validate({"price": 150, "again": PRICE})
    with pytest.raises(ValidationError):
        payload_validator(document, "b.paid").validate({"price": PRICE})


def test_a_2020_12_only_keyword_keeps_the_schema_in_its_own_format(
    tmp_path: Path, spec_validator: Draft7Validator
) -> None:
    pair = {"type": "array", "prefixItems": [{"type": "string"}, {"$ref": "_defs/money.json"}], "items": False}
    write(
        tmp_path,
        {
            "_defs/money.json": MONEY,
            "_defs/currency.json": CURRENCY,
            "quote.given.json": event({"pair": pair}, examples=[{"pair": ["x", PRICE]}]),
        },
    )
    document = build(load_catalog(tmp_path))
    assert spec_errors(spec_validator, document) == []
    assert broken_references(document) == []
    quote = document["components"]["schemas"]["QuoteGiven"]
    assert quote["schemaFormat"] == "application/schema+json;version=2020-12"
    money_ref = quote["schema"]["properties"]["pair"]["prefixItems"][1]["$ref"]
    assert money_ref == "#/components/schemas/QuoteGiven/schema/$defs/Money"
    assert lookup(document, money_ref)["title"] == "Money"


# -- the wire format the document describes ------------------------------------------------------------------


def test_real_messages_match_the_documented_payload_and_headers() -> None:
    entries = catalog()
    document = build(entries)
    for entry in entries:
        for example in entry.examples:
            envelope = Envelope.new(entry.routing_key, example, schema_version=entry.version)
            task = "tchu.rpc.respond" if entry.kind == "rpc" else "tchu_tchu.dispatch_event"
            message = envelope.task_message(task_name=task, reply_to="caller" if entry.kind == "rpc" else None)
            args, kwargs, _embed = json.loads(message.body)
            assert kwargs == {"routing_key": entry.routing_key}
            payload_validator(document, entry.routing_key).validate(json.loads(args[0]))
            payload_validator(document, entry.routing_key, "headers").validate(message.headers)
            wrong_task = {**message.headers, "task": "tchu_tchu.other"}
            with pytest.raises(ValidationError):
                payload_validator(document, entry.routing_key, "headers").validate(wrong_task)


def test_runtime_names_agree_with_tchu() -> None:
    from tchu._celery import common  # noqa: PLC0415 -- imports Celery, which the generator itself never does

    assert asyncapi.EXCHANGE_NAME == common.EXCHANGE_NAME
    assert asyncapi.RPC_TASK_NAME == common.RPC_TASK_NAME
    assert common.rpc_queue_name("user.validate") == asyncapi.RPC_QUEUE_PREFIX + "user.validate"
    exchange = common.events_exchange()
    assert (exchange.type, exchange.durable) == ("topic", True)


# -- the command line ----------------------------------------------------------------------------------------


def test_main_writes_the_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "docs" / "asyncapi.json"
    argv = ["--schemas", str(ROOT / "schemas"), "--out", str(out), "--title", "Shop", "--api-version", "3"]
    argv += ["--consumes", "analytics=user.*,#", "--consumes", "notifications=user.created"]
    argv += ["--consumes", "users=user.deleted,user.validate", "--produces", "web=user.validate,order.calculate_total"]
    argv += ["--produces", "backoffice=user.deleted", "--consumes", "billing=invoice.*"]
    assert main(argv) == 0
    expected = build(catalog(), consumers=CONSUMERS, producers=PRODUCERS, title="Shop", version="3")
    assert json.loads(out.read_text(encoding="utf-8")) == expected
    captured = capsys.readouterr()
    assert f"wrote {out}" in captured.out
    assert "warning: billing subscribes to 'invoice.*', which matches no event of the catalog" in captured.err


def test_main_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "asyncapi.json"
    assert main(["--schemas", str(tmp_path / "missing"), "--out", str(out)]) == 1
    assert "catalog folder does not exist" in capsys.readouterr().err
    assert main(["--schemas", str(ROOT / "schemas"), "--out", str(out), "--consumes", "a=user*"]) == 1
    assert "wildcards match whole words only" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(out), "--consumes", "no-equals-sign"])
    assert exit_info.value.code == 2
    assert "expected SERVICE=KEY_OR_PATTERN" in capsys.readouterr().err


def test_runs_as_a_module(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "codegen.asyncapi", "--schemas", str(ROOT / "schemas"), "--out", "api.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "api.json").read_text(encoding="utf-8")) == build(catalog())


def test_recursive_definitions_resolve(tmp_path: Path, spec_validator: Draft7Validator) -> None:
    node = {
        "title": "Node",
        "type": "object",
        "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "node.json"}}},
        "required": ["name"],
    }
    write(
        tmp_path,
        {
            "_defs/node.json": node,
            "tree.built.json": event({"root": {"$ref": "_defs/node.json"}}),
            "tree.pruned.json": event({"root": {"$ref": "_defs/node.json"}}),
        },
    )
    document = build(load_catalog(tmp_path))
    assert spec_errors(spec_validator, document) == []
    assert broken_references(document) == []
    schemas = document["components"]["schemas"]
    assert schemas["Node"]["properties"]["children"]["items"] == {"$ref": "#/components/schemas/Node"}
    assert not [name for name in schemas if name.startswith("Node") and name != "Node"]
    tree = payload_validator(document, "tree.pruned")
    tree.validate({"root": {"name": "a", "children": [{"name": "b", "children": []}]}})
    with pytest.raises(ValidationError, match="'name' is a required property"):
        tree.validate({"root": {"name": "a", "children": [{"children": []}]}})


def test_python_m_codegen_asyncapi_scans_the_code_for_who_sends_and_receives(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.json"
    argv = ["asyncapi", "--schemas", str(ROOT / "schemas"), "--out", str(out), "--code", str(ROOT / "examples")]
    assert codegen_main(argv) == 0
    operations = json.loads(out.read_text(encoding="utf-8"))["operations"]
    # examples/analytics subscribes to user.* and #; examples/notifications to user.created only
    assert "analytics.receive.order.created" in operations
    assert "notifications.receive.user.created" in operations
    assert not any(name.startswith("notifications.receive.order.") for name in operations)


def test_python_m_codegen_catalog_writes_the_page_with_the_scanned_consumers(tmp_path: Path) -> None:
    out = tmp_path / "catalog.html"
    argv = ["catalog", "--schemas", str(ROOT / "schemas"), "--out", str(out), "--code", str(ROOT / "examples")]
    assert codegen_main(argv) == 0
    page = out.read_text(encoding="utf-8")
    assert "notifications" in page
    assert "analytics" in page
