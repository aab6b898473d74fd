"""The dispatcher: matching handlers run in isolation; outcomes are exceptions, testable without Celery."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import pytest
from pydantic import BaseModel

from tchu.catalog import Catalog, EventSchema
from tchu.context import EventInfo, current_event, current_event_or_none
from tchu.dispatch import Delivery, Dispatcher
from tchu.envelope import Envelope
from tchu.errors import (
    HandlerError,
    NoHandlerError,
    NoResponderError,
    PayloadError,
    PayloadValidationError,
)
from tchu.router import Router

USER_SCHEMA = {
    "type": "object",
    "required": ["user_id"],
    "properties": {"user_id": {"type": "integer"}, "tags": {"type": "array"}},
}


@pytest.fixture
def router() -> Router:
    return Router()


@pytest.fixture
def catalog() -> Catalog:
    return Catalog()


@pytest.fixture
def dispatcher(router: Router, catalog: Catalog) -> Dispatcher:
    return Dispatcher(router, catalog)


def envelope(key: str = "user.created", payload: Any = None, **kwargs: Any) -> Envelope:
    return Envelope.new(key, {"user_id": 1} if payload is None else payload, **kwargs)


def test_uses_the_given_router_and_catalog(router: Router, catalog: Catalog) -> None:
    dispatcher = Dispatcher(router, catalog)
    assert dispatcher.router is router
    assert dispatcher.catalog is catalog


def test_every_matching_handler_runs_in_registration_order(dispatcher: Dispatcher, router: Router) -> None:
    ran: list[tuple[str, dict[str, Any]]] = []
    router.add("user.created", lambda d: ran.append(("exact", d)), handler_id="exact")
    router.add("user.*", lambda d: ran.append(("star", d)), handler_id="star")
    router.add("#", lambda d: ran.append(("all", d)), handler_id="all")
    router.add("order.*", lambda d: ran.append(("order", d)), handler_id="order")
    env = envelope()
    delivery = dispatcher.dispatch(env)
    assert delivery == Delivery("user.created", env.event_id, ("exact", "star", "all"))
    assert [name for name, _ in ran] == ["exact", "star", "all"]
    assert all(data == {"user_id": 1} for _, data in ran)


def test_a_failing_handler_does_not_stop_the_others(
    dispatcher: Dispatcher, router: Router, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def broken(data: dict[str, Any]) -> None:
        ran.append("broken")
        raise RuntimeError("smtp down")

    router.add("user.created", lambda _: ran.append("first"), handler_id="svc.first")
    router.add("user.created", broken, handler_id="svc.broken")
    router.add("user.*", lambda _: ran.append("last"), handler_id="svc.last")
    env = envelope(correlation_id="corr-1")

    with pytest.raises(HandlerError) as info:
        dispatcher.dispatch(env)

    assert ran == ["first", "broken", "last"]
    exc = info.value
    assert [f.handler for f in exc.failures] == ["svc.broken"]
    assert (exc.failures[0].error_type, exc.failures[0].message) == ("RuntimeError", "smtp down")
    assert (exc.routing_key, exc.event_id) == ("user.created", env.event_id)
    assert "svc.first" not in str(exc)
    assert "svc.last" not in str(exc)

    records = [r for r in caplog.records if r.name.startswith("tchu")]
    assert len(records) == 1  # logged once, where the decision is made
    (record,) = records
    assert record.levelno == logging.ERROR
    message = record.getMessage()
    assert "user.created" in message
    assert "svc.broken" in message
    assert env.event_id in message
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
    assert record.__dict__["routing_key"] == "user.created"
    assert record.__dict__["event_id"] == env.event_id
    assert record.__dict__["correlation_id"] == "corr-1"
    assert record.__dict__["handler"] == "svc.broken"


def test_every_failure_is_listed(dispatcher: Dispatcher, router: Router, caplog: pytest.LogCaptureFixture) -> None:
    def fail_a(data: dict[str, Any]) -> None:
        raise KeyError("a")

    def fail_b(data: dict[str, Any]) -> None:
        raise ValueError("b")

    router.add("user.created", fail_a, handler_id="a")
    router.add("user.created", lambda _: None, handler_id="ok")
    router.add("user.created", fail_b, handler_id="b")
    with pytest.raises(HandlerError) as info:
        dispatcher.dispatch(envelope())
    assert [(f.handler, f.error_type) for f in info.value.failures] == [
        ("a", "KeyError"),
        ("b", "ValueError"),
    ]
    assert len([r for r in caplog.records if r.name.startswith("tchu")]) == 2


def test_a_successful_dispatch_logs_nothing_at_warning_or_above(
    dispatcher: Dispatcher, router: Router, caplog: pytest.LogCaptureFixture
) -> None:
    router.add("user.created", lambda _: None, handler_id="ok")
    dispatcher.dispatch(envelope())
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_base_exceptions_are_not_swallowed(dispatcher: Dispatcher, router: Router) -> None:
    ran: list[str] = []

    def interrupted(data: dict[str, Any]) -> None:
        raise KeyboardInterrupt

    router.add("user.created", interrupted, handler_id="interrupted")
    router.add("user.created", lambda _: ran.append("after"), handler_id="after")
    with pytest.raises(KeyboardInterrupt):
        dispatcher.dispatch(envelope())
    assert ran == []
    assert current_event_or_none() is None


def test_no_matching_handler_raises_no_handler_error(dispatcher: Dispatcher, router: Router) -> None:
    router.add("order.*", lambda _: None)
    env = envelope("user.created")
    with pytest.raises(NoHandlerError) as info:
        dispatcher.dispatch(env)
    assert (info.value.routing_key, info.value.event_id) == ("user.created", env.event_id)
    assert isinstance(info.value, LookupError)


def test_invalid_payload_runs_no_handler(dispatcher: Dispatcher, router: Router, catalog: Catalog) -> None:
    ran: list[dict[str, Any]] = []
    router.add("user.created", ran.append)
    catalog.register(EventSchema("user.created", USER_SCHEMA))
    with pytest.raises(PayloadValidationError) as info:
        dispatcher.dispatch(envelope(payload={"user_id": "one"}))
    assert info.value.errors() == [("$.user_id", '"one" is not of type "integer"')]
    assert ran == []
    dispatcher.dispatch(envelope(payload={"user_id": 1}))
    assert ran == [{"user_id": 1}]


def test_catalog_is_checked_before_handler_lookup(dispatcher: Dispatcher, catalog: Catalog) -> None:
    catalog.register(EventSchema("user.created", USER_SCHEMA))
    with pytest.raises(PayloadValidationError):
        dispatcher.dispatch(envelope(payload={}))


def test_handlers_see_the_current_event(dispatcher: Dispatcher, router: Router) -> None:
    seen: list[EventInfo] = []
    router.add("user.created", lambda _: seen.append(current_event()), handler_id="svc.one")
    router.add("user.*", lambda _: seen.append(current_event()), handler_id="svc.two")
    env = envelope(correlation_id="corr-9", schema_version=3)
    dispatcher.dispatch(env, redelivered=True)

    assert [info.handler for info in seen] == ["svc.one", "svc.two"]
    for info in seen:
        assert info.routing_key == "user.created"
        assert info.event_id == env.event_id
        assert info.correlation_id == "corr-9"
        assert info.published_at == env.published_at
        assert info.schema_version == 3
        assert info.redelivered is True


def test_current_event_raises_lookup_error_outside_a_handler(dispatcher: Dispatcher, router: Router) -> None:
    with pytest.raises(LookupError, match="only available while a tchu handler runs"):
        current_event()
    router.add("user.created", lambda _: None)
    dispatcher.dispatch(envelope())
    with pytest.raises(LookupError):
        current_event()
    assert current_event_or_none() is None


def test_current_event_is_reset_after_a_failing_handler(dispatcher: Dispatcher, router: Router) -> None:
    def broken(data: dict[str, Any]) -> None:
        raise RuntimeError

    router.add("user.created", broken)
    with pytest.raises(HandlerError):
        dispatcher.dispatch(envelope())
    assert current_event_or_none() is None


def test_each_handler_gets_its_own_copy_of_the_payload(dispatcher: Dispatcher, router: Router) -> None:
    seen: list[dict[str, Any]] = []

    def mutate(data: dict[str, Any]) -> None:
        data["user_id"] = 999
        data["tags"].append("mutated")
        data["added"] = True

    def look(data: dict[str, Any]) -> None:
        seen.append(data)

    router.add("user.created", mutate, handler_id="mutate")
    router.add("user.created", look, handler_id="look")
    env = envelope(payload={"user_id": 1, "tags": ["a"]})
    dispatcher.dispatch(env)
    assert seen == [{"user_id": 1, "tags": ["a"]}]
    assert env.payload == {"user_id": 1, "tags": ["a"]}


# ------------------------------------------------------------------------------------------------ respond


class Total(BaseModel):
    total: float
    currency: str
    computed_at: dt.datetime


RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["total", "currency"],
    "properties": {"total": {"type": "number"}, "currency": {"type": "string"}},
}


def test_respond_returns_the_responders_json_ready_reply(dispatcher: Dispatcher, router: Router) -> None:
    uid = uuid.uuid4()
    router.respond("order.lookup")(lambda d: {"id": uid, "items": {"a"}, "n": d["n"] + 1})
    assert dispatcher.respond(envelope("order.lookup", {"n": 1})) == {"id": str(uid), "items": ["a"], "n": 2}


def test_respond_dumps_a_pydantic_reply(dispatcher: Dispatcher, router: Router) -> None:
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    router.respond("order.total")(lambda _: Total(total=10.5, currency="USD", computed_at=when))
    reply = dispatcher.respond(envelope("order.total", {}))
    assert reply == {"total": 10.5, "currency": "USD", "computed_at": "2024-01-02T03:04:05Z"}
    assert type(reply) is dict


@pytest.mark.parametrize("value", [None, 3, "text", [1, {"a": 2}]])
def test_respond_passes_plain_json_values(dispatcher: Dispatcher, router: Router, value: Any) -> None:
    router.respond("order.total")(lambda _: value)
    assert dispatcher.respond(envelope("order.total", {})) == value


def test_respond_rejects_a_reply_json_cannot_carry(dispatcher: Dispatcher, router: Router) -> None:
    router.respond("order.total")(lambda _: {"total": float("nan")})
    with pytest.raises(PayloadError, match=r"'order\.total'"):
        dispatcher.respond(envelope("order.total", {}))


def test_respond_validates_request_and_reply(dispatcher: Dispatcher, router: Router, catalog: Catalog) -> None:
    calls: list[dict[str, Any]] = []
    replies: list[Any] = [{"total": 1.0, "currency": "USD"}, {"total": "one"}]

    def total(data: dict[str, Any]) -> Any:
        calls.append(data)
        return replies[len(calls) - 1]

    router.respond("order.total")(total)
    catalog.register(
        EventSchema(
            "order.total",
            {"type": "object", "required": ["order_id"]},
            kind="rpc",
            response=RESPONSE_SCHEMA,
        )
    )
    with pytest.raises(PayloadValidationError, match=r"\$\.order_id: is required"):
        dispatcher.respond(envelope("order.total", {}))
    assert calls == []  # an invalid request never reaches the responder

    assert dispatcher.respond(envelope("order.total", {"order_id": 1})) == {"total": 1.0, "currency": "USD"}
    with pytest.raises(PayloadValidationError) as info:
        dispatcher.respond(envelope("order.total", {"order_id": 2}))
    assert sorted(info.value.errors()) == [
        ("$.currency", "is required"),
        ("$.total", '"one" is not of type "number"'),
    ]
    assert info.value.schema_id.endswith("#/x-tchu/response")


def test_respond_without_a_responder_raises_no_responder_error(dispatcher: Dispatcher, router: Router) -> None:
    router.add("order.total", lambda _: None)  # a subscriber is not a responder
    with pytest.raises(NoResponderError, match=r"'order\.total'"):
        dispatcher.respond(envelope("order.total", {}))


def test_respond_propagates_the_responders_own_exception(dispatcher: Dispatcher, router: Router) -> None:
    boom = ZeroDivisionError("no items")

    def total(data: dict[str, Any]) -> None:
        raise boom

    router.respond("order.total")(total)
    with pytest.raises(ZeroDivisionError) as info:
        dispatcher.respond(envelope("order.total", {}))
    assert info.value is boom
    assert current_event_or_none() is None


def test_responder_sees_the_current_event(dispatcher: Dispatcher, router: Router) -> None:
    seen: list[EventInfo] = []
    router.respond("order.total", handler_id="svc.total")(lambda _: seen.append(current_event()))
    env = envelope("order.total", {}, correlation_id="corr-r")
    dispatcher.respond(env)
    (info,) = seen
    assert (info.handler, info.event_id, info.correlation_id) == ("svc.total", env.event_id, "corr-r")
