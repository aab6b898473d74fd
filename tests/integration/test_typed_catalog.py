"""A fresh catalog, generated, imported by a real worker and published to with typed functions.

The catalog has nested objects, enums, arrays, formats, nullable fields, a ``$ref`` into ``_defs/`` and an rpc
topic. Validation runs at both ends: the publisher refuses what the schema refuses, and a worker dead-letters
a delivered payload that does not match, handing it to no handler, and goes on consuming.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from helpers import get_messages, publisher_app, queue_depth, wait_seen

from tchu import Catalog, PayloadValidationError, RemoteError, TchuClient

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = ROOT / "tests" / "support"

PRICE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Price",
    "type": "object",
    "properties": {"cents": {"type": "integer", "minimum": 0}, "currency": {"enum": ["EUR", "USD"]}},
    "required": ["cents", "currency"],
    "additionalProperties": False,
}
ITEM_ADDED = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "cart_id": {"type": "string", "format": "uuid"},
        "customer": {
            "type": "object",
            "properties": {"email": {"type": "string", "format": "email"}, "vip": {"type": "boolean"}},
            "required": ["email"],
            "additionalProperties": False,
        },
        "lines": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "price": {"$ref": "_defs/price.json"}},
                "required": ["sku", "price"],
            },
        },
        "channel": {"enum": ["web", "app", "store"]},
        "added_at": {"type": "string", "format": "date-time"},
        "note": {"type": ["string", "null"]},
    },
    "required": ["cart_id", "customer", "lines", "channel", "added_at"],
    "additionalProperties": False,
    "examples": [
        {
            "cart_id": "0b6f3c3e-4a51-4b7e-9a8a-1c1f6f0b2d11",
            "customer": {"email": "ann@example.com"},
            "lines": [{"sku": "A-1", "price": {"cents": 250, "currency": "EUR"}}],
            "channel": "web",
            "added_at": "2026-01-01T10:00:00Z",
            "note": None,
        }
    ],
    "x-tchu": {"owner": "shop", "version": 2},
}
QUOTE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {"skus": {"type": "array", "items": {"type": "string"}}, "bad_reply": {"type": "boolean"}},
    "required": ["skus"],
    "x-tchu": {
        "kind": "rpc",
        "owner": "shop",
        "version": 1,
        "response": {
            "type": "object",
            "properties": {"total": {"$ref": "_defs/price.json"}},
            "required": ["total"],
            "additionalProperties": False,
        },
    },
}
HANDLERS = '''
"""Typed handlers of the shop service, on the package generated from the test's catalog."""

from recorder import record
from shopgen import Price, ShopItemAdded, ShopQuote, ShopQuoteResponse, on_shop_item_added, responds_shop_quote


@on_shop_item_added
def remember_item(event: ShopItemAdded) -> None:
    record("remember_item", event.model_dump(mode="json"), model=type(event).__name__,
           line_model=type(event.lines[0].price).__name__)


@responds_shop_quote
def quote(request: ShopQuote) -> ShopQuoteResponse | dict[str, object]:
    record("quote", request.model_dump(mode="json"))
    if request.bad_reply:
        return {"total": {"cents": -1, "currency": "GBP"}}
    return ShopQuoteResponse(total=Price(cents=100 * len(request.skus), currency="EUR"))
'''


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    """tmp/schemas -> python -m codegen -> tmp/shopgen, plus the service's handler module."""
    root = tmp_path_factory.mktemp("shop")
    schemas = root / "schemas"
    (schemas / "_defs").mkdir(parents=True)
    (schemas / "_defs" / "price.json").write_text(json.dumps(PRICE))
    (schemas / "shop.item.added.json").write_text(json.dumps(ITEM_ADDED))
    (schemas / "shop.quote.json").write_text(json.dumps(QUOTE))
    out = subprocess.run(
        [sys.executable, "-m", "codegen", "--schemas", "schemas", "--out", "shopgen"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    (root / "shop_handlers.py").write_text(textwrap.dedent(HANDLERS))
    return root


@pytest.fixture
def shopgen(shop, monkeypatch):
    monkeypatch.syspath_prepend(str(shop))
    import shopgen  # noqa: PLC0415 -- generated into the module's temporary folder

    return shopgen


@pytest.fixture
def shop_worker(shop, start_worker):
    env = {
        "TCHU_TEST_SERVICE": "shop",
        "TCHU_TEST_HANDLERS": "shop_handlers",
        "PYTHONPATH": f"{shop}:{SUPPORT}:{ROOT}",
    }
    return start_worker("svc", extra_env=env)


def test_typed_publish_reaches_a_typed_handler_in_a_worker(broker, shop_worker, shopgen, client):
    event_id = shopgen.publish_shop_item_added(
        cart_id=uuid.UUID("0b6f3c3e-4a51-4b7e-9a8a-1c1f6f0b2d11"),
        customer=shopgen.ShopItemAddedCustomer(email="ann@example.com", vip=True),
        lines=[shopgen.ShopItemAddedLinesItem(sku="A-1", price=shopgen.Price(cents=250, currency="EUR"))],
        channel="app",
        added_at=dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC),
        client=client,
    )
    (record,) = wait_seen(broker, 1)
    assert record["event_id"] == event_id
    assert record["model"] == "ShopItemAdded"
    assert record["line_model"] == "Price"
    assert record["schema_version"] == 2
    assert record["payload"] == {
        "cart_id": "0b6f3c3e-4a51-4b7e-9a8a-1c1f6f0b2d11",
        "customer": {"email": "ann@example.com", "vip": True},
        "lines": [{"sku": "A-1", "price": {"cents": 250, "currency": "EUR"}}],
        "channel": "app",
        "added_at": "2026-01-01T10:00:00Z",
        "note": None,
    }


def test_publisher_refuses_an_invalid_payload_and_sends_nothing(broker, shop_worker, shopgen, client):
    with pytest.raises(PayloadValidationError) as info:
        shopgen.publish_shop_item_added(
            cart_id="not-a-uuid",
            customer=shopgen.ShopItemAddedCustomer(email="not-an-email"),
            lines=[],
            channel="web",
            added_at=dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC),
            client=client,
        )
    paths = [path for path, _ in info.value.errors()]
    assert paths == ["$.cart_id", "$.customer.email", "$.lines"]
    assert info.value.routing_key == "shop.item.added"
    time.sleep(0.5)
    assert queue_depth(broker, "shop_queue") == 0
    assert wait_seen(broker, 0, settle=0.5) == []


def test_worker_dead_letters_an_invalid_delivery_and_keeps_consuming(broker, shop_worker, shopgen):
    app = publisher_app(broker)
    unchecked = TchuClient(app, catalog=Catalog())  # a publisher that knows no schema
    try:
        bad_id = unchecked.publish("shop.item.added", {"cart_id": "x", "channel": "fax"})
        good = dict(ITEM_ADDED["examples"][0])
        good_id = unchecked.publish("shop.item.added", good)
    finally:
        unchecked.close()
        app.backend.client.connection_pool.disconnect()
        app.close()

    (record,) = wait_seen(broker, 1)
    assert record["event_id"] == good_id
    deadline = time.monotonic() + 10
    while queue_depth(broker, "shop_queue.dlq") < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    (dead,) = get_messages(broker, "shop_queue.dlq")
    assert dead.headers["id"] == bad_id
    reason = dead.headers["tchu_dlq_reason"]
    assert reason.startswith("validation: payload for 'shop.item.added' does not match")
    for field in ("$.cart_id", "$.channel", "$.customer: is required", "$.lines: is required"):
        assert field in reason
    out = shop_worker.output()
    assert out.count("invalid payload for shop.item.added") == 1


def test_typed_rpc_round_trip_and_an_invalid_reply_raises_at_the_caller(broker, shop_worker, shopgen, client):
    reply = shopgen.call_shop_quote(skus=["A-1", "B-2"], timeout=10, client=client)
    assert isinstance(reply, shopgen.ShopQuoteResponse)
    assert reply.total == shopgen.Price(cents=200, currency="EUR")

    with pytest.raises(RemoteError) as info:
        shopgen.call_shop_quote(skus=["A-1"], bad_reply=True, timeout=10, client=client)
    assert info.value.remote_type == "PayloadValidationError"
    assert "$.total.cents" in info.value.remote_message
    assert "$.total.currency" in info.value.remote_message
