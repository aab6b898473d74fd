"""The publisher: validate, wrap, send; an invalid event never reaches the transport."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest
from doubles import RecordingTransport

from tchu.catalog import Catalog, EventSchema, default_catalog
from tchu.context import EventInfo, handling
from tchu.errors import InvalidRoutingKeyError, PayloadError, PayloadValidationError
from tchu.publisher import DEFAULT_CALL_TIMEOUT, Publisher, Transport

USER_CREATED = EventSchema(
    "user.created",
    {
        "type": "object",
        "required": ["user_id", "email"],
        "properties": {"user_id": {"type": "integer"}, "email": {"type": "string", "format": "email"}},
    },
    version=3,
)
ORDER_TOTAL = EventSchema(
    "order.total",
    {"type": "object", "required": ["order_id"]},
    kind="rpc",
    response={"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}},
)


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport(reply=lambda env: {"total": float(env.payload["order_id"]) * 2})


@pytest.fixture
def catalog() -> Catalog:
    catalog = Catalog()
    catalog.register(USER_CREATED)
    catalog.register(ORDER_TOTAL)
    return catalog


@pytest.fixture
def publisher(transport: RecordingTransport, catalog: Catalog) -> Publisher:
    return Publisher(transport, catalog)


def test_recording_transport_implements_the_transport_protocol() -> None:
    # the double must keep up with the protocol, or the tests below exercise a different contract
    for name in ("send", "call"):
        ours = inspect.signature(getattr(RecordingTransport, name))
        protocol = inspect.signature(getattr(Transport, name))
        assert list(ours.parameters) == list(protocol.parameters)


def test_publish_sends_one_envelope_and_returns_its_event_id(
    publisher: Publisher, transport: RecordingTransport
) -> None:
    event_id = publisher.publish("user.created", {"user_id": 1, "email": "a@example.com"})
    (env,) = transport.sent
    assert env.event_id == event_id
    assert env.routing_key == "user.created"
    assert env.payload == {"user_id": 1, "email": "a@example.com"}
    assert transport.calls == []


def test_invalid_payload_is_never_sent(publisher: Publisher, transport: RecordingTransport) -> None:
    with pytest.raises(PayloadValidationError) as info:
        publisher.publish("user.created", {"user_id": "x", "email": "no-at-sign"})
    assert sorted(info.value.errors()) == [
        ("$.email", '"no-at-sign" is not a "email"'),
        ("$.user_id", '"x" is not of type "integer"'),
    ]
    assert transport.sent == []
    assert transport.calls == []


@pytest.mark.parametrize("data", [[1, 2], "not json", 5])
def test_non_object_payload_is_never_sent(publisher: Publisher, transport: RecordingTransport, data: Any) -> None:
    with pytest.raises(PayloadError):
        publisher.publish("audit.logged", data)
    assert transport.sent == []


@pytest.mark.parametrize("key", ["user.*", "", "user..created"])
def test_bad_routing_key_is_never_sent(publisher: Publisher, transport: RecordingTransport, key: str) -> None:
    with pytest.raises(InvalidRoutingKeyError):
        publisher.publish(key, {})
    assert transport.sent == []


def test_unknown_key_is_published_unchecked_by_a_lax_catalog(
    publisher: Publisher, transport: RecordingTransport
) -> None:
    publisher.publish("audit.logged", {"anything": True})
    (env,) = transport.sent
    assert env.schema_version is None


def test_strict_catalog_rejects_unknown_keys(transport: RecordingTransport) -> None:
    catalog = Catalog(strict=True)
    catalog.register(USER_CREATED)
    publisher = Publisher(transport, catalog)
    with pytest.raises(InvalidRoutingKeyError) as info:
        publisher.publish("user.deleted", {"user_id": 1})
    assert "'user.deleted'" in str(info.value)
    assert "schemas/user.deleted.json" in str(info.value)
    with pytest.raises(InvalidRoutingKeyError, match=r"schemas/order\.total\.json"):
        publisher.call("order.total", {"order_id": 1})
    assert transport.sent == []
    assert transport.calls == []
    publisher.publish("user.created", {"user_id": 1, "email": "a@b"})
    assert len(transport.sent) == 1


def test_schema_version_from_the_catalog_goes_into_the_envelope(
    publisher: Publisher, transport: RecordingTransport
) -> None:
    publisher.publish("user.created", {"user_id": 1, "email": "a@b"})
    (env,) = transport.sent
    assert env.schema_version == 3
    assert env.task_message().headers["tchu_schema_version"] == 3


def test_correlation_id_defaults_to_the_event_id(publisher: Publisher, transport: RecordingTransport) -> None:
    event_id = publisher.publish("audit.logged", {})
    assert transport.sent[0].correlation_id == event_id


def test_explicit_correlation_id_is_used(publisher: Publisher, transport: RecordingTransport) -> None:
    publisher.publish("audit.logged", {}, correlation_id="corr-explicit")
    assert transport.sent[0].correlation_id == "corr-explicit"


def handled_event() -> EventInfo:
    return EventInfo(
        routing_key="user.created",
        event_id="ev-parent",
        correlation_id="corr-chain",
        published_at="2024-01-01T00:00:00+00:00",
        schema_version=None,
    )


def test_publishing_inside_a_handler_inherits_the_correlation_id(
    publisher: Publisher, transport: RecordingTransport
) -> None:
    with handling(handled_event(), "svc.on_user_created"):
        event_id = publisher.publish("audit.logged", {"who": 1})
        publisher.call("order.total", {"order_id": 2})
        publisher.publish("audit.logged", {}, correlation_id="override")
    publisher.publish("audit.logged", {})

    inside, overridden, outside = transport.sent
    assert inside.correlation_id == "corr-chain"
    assert inside.event_id == event_id != "ev-parent"
    assert transport.calls[0][0].correlation_id == "corr-chain"
    assert overridden.correlation_id == "override"
    assert outside.correlation_id == outside.event_id


def test_call_returns_the_validated_reply(publisher: Publisher, transport: RecordingTransport) -> None:
    assert publisher.call("order.total", {"order_id": 21}, timeout=1.5) == {"total": 42.0}
    ((env, timeout),) = transport.calls
    assert (env.routing_key, env.payload, timeout) == ("order.total", {"order_id": 21}, 1.5)
    assert transport.sent == []


def test_call_uses_the_default_timeout(publisher: Publisher, transport: RecordingTransport) -> None:
    publisher.call("order.total", {"order_id": 1})
    assert transport.calls[0][1] == DEFAULT_CALL_TIMEOUT == 30.0


def test_call_validates_the_request_before_sending(publisher: Publisher, transport: RecordingTransport) -> None:
    with pytest.raises(PayloadValidationError, match=r"\$\.order_id: is required"):
        publisher.call("order.total", {})
    assert transport.calls == []


def test_call_validates_the_reply_against_the_response_schema(catalog: Catalog) -> None:
    transport = RecordingTransport(reply=lambda _: {"total": "a lot"})
    publisher = Publisher(transport, catalog)
    with pytest.raises(PayloadValidationError) as info:
        publisher.call("order.total", {"order_id": 1})
    assert info.value.errors() == [("$.total", '"a lot" is not of type "number"')]
    assert len(transport.calls) == 1


def test_call_to_an_unknown_key_returns_the_reply_unchecked(publisher: Publisher) -> None:
    assert publisher.call("misc.echo", {"order_id": 4}) == {"total": 8.0}


def test_envelope_builds_without_sending(publisher: Publisher, transport: RecordingTransport) -> None:
    env = publisher.envelope("user.created", {"user_id": 1, "email": "a@b"})
    assert env.schema_version == 3
    assert transport.sent == []


def test_publisher_uses_the_default_catalog_when_none_is_given(transport: RecordingTransport) -> None:
    assert Publisher(transport).catalog is default_catalog


def test_publishing_a_deprecated_key_warns_at_the_callers_line_and_still_sends(transport: RecordingTransport) -> None:
    catalog = Catalog()
    catalog.register(EventSchema("old.thing", {"type": "object"}, owner="billing", deprecated=True))
    with pytest.warns(DeprecationWarning, match=r"'old.thing' is deprecated in the event catalog .*\(billing\)") as w:
        Publisher(transport, catalog).publish("old.thing", {})
    assert w[0].filename == __file__
    assert [env.routing_key for env in transport.sent] == ["old.thing"]


def test_handling_keeps_every_field_of_the_event_but_the_handler() -> None:
    # handling() copies the fields one by one: a new field must be added there, and set here
    assert [f.name for f in dataclasses.fields(EventInfo)] == [
        "routing_key",
        "event_id",
        "correlation_id",
        "published_at",
        "schema_version",
        "handler",
        "redelivered",
        "attempt",
        "headers",
    ]
    info = EventInfo(
        routing_key="user.created",
        event_id="ev-1",
        correlation_id="corr-1",
        published_at="2024-01-01T00:00:00+00:00",
        schema_version=3,
        handler="before",
        redelivered=True,
        attempt=4,
        headers={"tchu_schema_version": 3},
    )
    with handling(info, "svc.after") as scoped:
        assert dataclasses.asdict(scoped) == {**dataclasses.asdict(info), "handler": "svc.after"}
