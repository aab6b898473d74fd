"""tchu.testing: the tchu_events fixture in memory, what it records, and how it answers queries."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest

import tchu
from generated import Money, OrderItem, publish_order_created, publish_user_created
from generated import _catalog as generated_catalog
from tchu import Router, TchuClient, current_event
from tchu.catalog import Catalog
from tchu.errors import PayloadValidationError, SetupError, UnroutableError
from tchu.memory import MemoryBroker
from tchu.testing import EventLog, Matches, recording
from tchu.typed import set_default_client

EARLY_CLIENT = TchuClient()  # made at import, as a module-level client of an application is


@pytest.fixture
def service(tchu_events: EventLog) -> list[Any]:
    """A service ``svc`` on its own router: every payload it handles is appended to the returned list."""
    seen: list[Any] = []
    router = Router()
    router.add("user.#", lambda data: seen.append((current_event().routing_key, data)), handler_id="svc.user")
    router.respond("user.validate")(lambda data: {"valid": True, "email": data["email"]})
    tchu_events.add_service("svc", router=router)
    return seen


def test_the_fixture_starts_in_memory_with_the_local_service(tchu_events: EventLog) -> None:
    assert tchu_events.mode == "memory"
    assert tchu_events.runs_handlers
    assert isinstance(tchu_events.broker, MemoryBroker)
    local = tchu_events.broker.service("local")
    assert local.router is tchu.default_router
    assert local.dispatcher.catalog is tchu.default_catalog


def test_clients_made_before_and_during_the_test_publish_in_memory(tchu_events: EventLog, service: list[Any]) -> None:
    EARLY_CLIENT.publish("user.deleted", {"user_id": 1})
    TchuClient().publish("user.deleted", {"user_id": 2})
    assert service == [("user.deleted", {"user_id": 1}), ("user.deleted", {"user_id": 2})]
    assert tchu_events.published_keys() == ["user.deleted", "user.deleted"]


def test_typed_publishers_and_calls_use_the_memory_broker(tchu_events: EventLog, service: list[Any]) -> None:
    set_default_client(None)  # the next typed publish creates the default client, as in a fresh process
    event_id = publish_user_created(user_id=1, email="ada@example.com", name="Ada")
    [event] = tchu_events.published("user.created", user_id=1)
    assert event.event_id == event_id
    assert event.payload == {"user_id": 1, "email": "ada@example.com", "name": "Ada", "plan": "free"}
    assert service == [("user.created", event.payload)]
    assert TchuClient().call("user.validate", {"email": "ada@example.com"}) == {
        "valid": True,
        "email": "ada@example.com",
    }


def test_publishing_validates_as_in_production(tchu_events: EventLog) -> None:
    with pytest.raises(PayloadValidationError):
        publish_user_created(user_id=1, email="not an email", name="Ada")
    catalog = Catalog()
    generated_catalog.register(catalog)
    with pytest.raises(PayloadValidationError):
        TchuClient(catalog=catalog).publish("user.created", {"user_id": "1"})
    assert tchu_events.published_keys() == []


def test_the_clients_unroutable_setting_applies(tchu_events: EventLog, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(UnroutableError):
        TchuClient(unroutable="raise").publish("nobody.listens", {})
    with caplog.at_level(logging.WARNING, logger="tchu.publish"):
        TchuClient().publish("nobody.listens", {})
    assert "reached no service" in caplog.text
    assert tchu_events.published_keys() == ["nobody.listens", "nobody.listens"]


def test_published_matches_keys_patterns_and_payload_subsets(tchu_events: EventLog) -> None:
    client = TchuClient(catalog=Catalog(), unroutable="ignore")
    client.publish("user.created", {"user_id": 1, "profile": {"name": "Ada", "tags": ["a"]}, "admin": False})
    client.publish("user.deleted", {"user_id": 1})
    client.publish("order.created", {"user_id": 2})
    assert len(tchu_events.published("user.created")) == 1
    assert [e.routing_key for e in tchu_events.published("user.*", user_id=1)] == ["user.created", "user.deleted"]
    assert [e.routing_key for e in tchu_events.published(user_id=2)] == ["order.created"]
    assert tchu_events.published("user.created", profile={"name": "Ada"})
    assert not tchu_events.published("user.created", profile={"name": "Bob"})
    assert not tchu_events.published("user.created", profile={"tags": []})
    assert not tchu_events.published("user.created", missing=None)
    assert not tchu_events.published("user.created", admin=0)  # a bool is not a number
    assert not tchu_events.published("user.created", user_id=True)
    assert tchu_events.published("#", routing_key=None) == []  # payload fields may be called anything


def test_expected_values_are_compared_as_they_are_sent(tchu_events: EventLog) -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    TchuClient(catalog=Catalog(), unroutable="ignore").publish("user.updated", {"at": when, "n": 1})
    total = Money(amount=19.5, currency="EUR")
    publish_order_created(order_id=7, user_id=1, items=[OrderItem(id=1, quantity=2)], total=total)
    assert tchu_events.published("user.updated", at=when)
    assert tchu_events.published("order.created", total=total, items=[{"id": 1, "quantity": 2}])


def test_an_empty_result_explains_itself(tchu_events: EventLog) -> None:
    TchuClient(unroutable="ignore").publish("user.deleted", {"user_id": 1})
    found = tchu_events.published("user.created", user_id=2)
    assert isinstance(found, Matches)
    assert not found
    assert repr(found) == "<no event matches user.created user_id=2; published: ['user.deleted']>"
    assert repr(tchu_events.published("user.deleted")).startswith("[Published(routing_key='user.deleted'")


def test_dead_letters_and_clear(tchu_events: EventLog) -> None:
    router = Router()

    def broken(_data: Any) -> None:
        raise ValueError("down")

    router.add("job.run", broken, handler_id="broken")
    tchu_events.add_service("jobs", router=router)
    TchuClient().publish("job.run", {"n": 1})
    [entry] = tchu_events.dead_letters("jobs")
    assert entry.reason.endswith("broken: ValueError: down")
    assert entry.payload == {"n": 1}
    tchu_events.clear()
    assert (tchu_events.published_keys(), tchu_events.dead_letters("jobs")) == ([], [])


def test_wait_for_looks_once_in_memory(tchu_events: EventLog) -> None:
    TchuClient(unroutable="ignore").publish("user.deleted", {"user_id": 1})
    assert tchu_events.wait_for("user.deleted", timeout=30, user_id=1)
    assert tchu_events.wait_for("user.created", timeout=0) == []


def test_services_can_be_removed_to_test_one_at_a_time(tchu_events: EventLog) -> None:
    tchu_events.remove_service("local")
    assert tchu_events.broker is not None
    assert list(tchu_events.broker.services) == []
    with pytest.raises(UnroutableError):
        TchuClient(unroutable="raise").publish("user.created", {"user_id": 1, "email": "a@example.com", "name": "A"})


def test_recording_restores_the_real_transport() -> None:
    from tchu._celery.transport import CeleryTransport  # noqa: PLC0415 -- the class the block patches

    send, call = CeleryTransport.send, CeleryTransport.call
    with recording() as events:
        assert CeleryTransport.send is not send
        assert events.mode == "memory"
    assert (CeleryTransport.send, CeleryTransport.call) == (send, call)


def test_nested_recordings_route_to_the_innermost_then_back(tchu_events: EventLog) -> None:
    client = TchuClient(unroutable="ignore")
    with recording() as inner:
        client.publish("user.deleted", {"user_id": 1})
    client.publish("user.deleted", {"user_id": 2})
    assert [e.payload["user_id"] for e in inner.published()] == [1]
    assert [e.payload["user_id"] for e in tchu_events.published()] == [2]


def test_an_event_log_records_one_source() -> None:
    with pytest.raises(ValueError, match="either"):
        EventLog()


def test_add_service_errors_are_the_brokers(tchu_events: EventLog) -> None:
    with pytest.raises(SetupError, match="already has a service 'local'"):
        tchu_events.add_service("local")


def test_serverless_clients_publish_in_memory_too(tchu_events: EventLog) -> None:
    from tchu.serverless import connect  # noqa: PLC0415 -- kombu only in the tests that publish with it

    payload = {"user_id": 7, "email": "ada@example.com", "name": "Ada"}
    with connect("amqp://guest:guest@127.0.0.1:1//", connect_timeout=0.1) as client:  # nothing listens there
        event_id = client.publish("user.created", payload)
        ids = client.publish_many([("user.deleted", {"user_id": 7})])
        with pytest.raises(SetupError, match="needs a Celery result backend"):  # refused, as in production
            client.call("audit.lookup", {"n": 1})
    [created] = tchu_events.published("user.created", user_id=7)
    assert created.event_id == event_id
    assert [e.event_id for e in tchu_events.published("user.deleted")] == ids
