"""TchuEvent: tchu-tchu 2.2.3's event classes with Pydantic or DRF-style serializers."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from doubles import RecordingTransport
from pydantic import BaseModel, Field

from tchu.catalog import Catalog
from tchu.client import TchuClient
from tchu.dispatch import Dispatcher
from tchu.envelope import Envelope
from tchu.errors import HandlerError, PayloadValidationError, SetupError
from tchu.events import TchuEvent
from tchu.router import default_router


class Item(BaseModel):
    sku: str
    quantity: int = Field(ge=1)


class OrderRequest(BaseModel):
    order_id: int
    items: list[Item]
    note: str = ""


class OrderTotal(BaseModel):
    total: float
    currency: str


class OrderCreatedEvent(TchuEvent):
    class Meta:
        topic = "order.created"
        request_serializer_class = OrderRequest


class CalculateTotalEvent(TchuEvent):
    class Meta:
        topic = "order.calculate_total"
        request_serializer_class = OrderRequest
        response_serializer_class = OrderTotal


VALID_ORDER = {"order_id": 1, "items": [{"sku": "a", "quantity": 2}]}


def client_for(transport: RecordingTransport) -> TchuClient:
    return TchuClient(transport=transport, catalog=Catalog())


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport(reply=lambda _: {"total": 12.5, "currency": "USD", "extra": "dropped"})


@pytest.fixture(autouse=True)
def restore_context_helper() -> Iterator[None]:
    saved = TchuEvent.get_context_helper()
    yield
    TchuEvent.set_context_helper(saved)


@pytest.fixture
def restore_default_router() -> Iterator[None]:
    """Put default_router back as it was, through its public API."""
    subscriptions = default_router.subscriptions()
    responders = default_router.responders()
    yield
    default_router.clear()
    for sub in subscriptions:
        default_router.add(sub.pattern, sub.handler, name=sub.name, handler_id=sub.handler_id, metadata=sub.metadata)
    for resp in responders:
        default_router.respond(resp.routing_key, handler_id=resp.handler_id)(resp.handler)
    assert default_router.subscriptions() == subscriptions
    assert default_router.responders() == responders


# ------------------------------------------------------------------------------------------ construction


def test_meta_supplies_topic_and_serializers() -> None:
    event = CalculateTotalEvent()
    assert event.topic == "order.calculate_total"
    assert event.request_serializer_class is OrderRequest
    assert event.response_serializer_class is OrderTotal
    assert event.validated_data is None


def test_constructor_arguments_override_meta() -> None:
    event = OrderCreatedEvent(topic="order.updated", request_serializer_class=OrderTotal)
    assert event.topic == "order.updated"
    assert event.request_serializer_class is OrderTotal


def test_missing_topic_raises_setup_error() -> None:
    class NoTopic(TchuEvent):
        pass

    with pytest.raises(SetupError, match="NoTopic needs a topic"):
        NoTopic()
    with pytest.raises(SetupError, match=r"Meta\.topic"):
        TchuEvent()


# ------------------------------------------------------------------------------------- serialize_request


def test_serialize_request_validates_and_stores_validated_data() -> None:
    event = OrderCreatedEvent()
    result = event.serialize_request({"order_id": "7", "items": [{"sku": "a", "quantity": "2"}]})
    expected = {"order_id": 7, "items": [{"sku": "a", "quantity": 2}], "note": ""}
    assert result == expected
    assert event.validated_data == expected


def test_invalid_data_names_the_field_path() -> None:
    event = OrderCreatedEvent()
    with pytest.raises(PayloadValidationError) as info:
        event.serialize_request({"order_id": "x", "items": [{"sku": "a", "quantity": 0}, {"quantity": 1}]})
    exc = info.value
    assert exc.routing_key == "order.created"
    assert exc.schema_id == "OrderRequest"
    paths = [path for path, _ in exc.errors()]
    assert paths == ["$.order_id", "$.items[0].quantity", "$.items[1].sku"]
    assert "greater than or equal to 1" in dict(exc.errors())["$.items[0].quantity"]
    assert event.validated_data is None


def test_without_a_serializer_data_is_kept_as_json() -> None:
    event = TchuEvent(topic="audit.logged")
    assert event.serialize_request({"n": 1, "tags": ("a", "b")}) == {"n": 1, "tags": ["a", "b"]}


def test_mapping_access() -> None:
    event = OrderCreatedEvent()
    assert "order_id" not in event
    with pytest.raises(SetupError, match="serialize_request"):
        event.get("order_id")
    with pytest.raises(SetupError):
        event["order_id"]
    event.serialize_request(VALID_ORDER)
    assert event["order_id"] == 1
    assert event.get("order_id") == 1
    assert event.get("missing") is None
    assert event.get("missing", "default") == "default"
    assert "items" in event
    assert "missing" not in event
    with pytest.raises(KeyError):
        event["missing"]


# ------------------------------------------------------------------------------------- publish and call


def test_publish_sends_the_validated_data(transport: RecordingTransport) -> None:
    event = OrderCreatedEvent(client=client_for(transport))
    event.serialize_request({"order_id": "1", "items": [{"sku": "a", "quantity": 2}]})
    event_id = event.publish()
    (env,) = transport.sent
    assert env.event_id == event_id
    assert env.routing_key == "order.created"
    assert env.payload == {"order_id": 1, "items": [{"sku": "a", "quantity": 2}], "note": ""}


def test_publish_or_call_before_serialize_request_raises_setup_error(transport: RecordingTransport) -> None:
    event = CalculateTotalEvent(client=client_for(transport))
    with pytest.raises(SetupError, match="serialize_request"):
        event.publish()
    with pytest.raises(SetupError, match="serialize_request"):
        event.call()
    assert transport.sent == []
    assert transport.calls == []


def test_call_returns_the_reply_validated_by_the_response_serializer(transport: RecordingTransport) -> None:
    event = CalculateTotalEvent(client=client_for(transport))
    event.serialize_request(VALID_ORDER)
    assert event.call(timeout=3) == {"total": 12.5, "currency": "USD"}
    ((env, timeout),) = transport.calls
    assert (env.routing_key, timeout) == ("order.calculate_total", 3)
    assert env.payload["order_id"] == 1


def test_an_invalid_reply_raises_payload_validation_error() -> None:
    transport = RecordingTransport(reply=lambda _: {"total": "lots"})
    event = CalculateTotalEvent(client=client_for(transport))
    event.serialize_request(VALID_ORDER)
    with pytest.raises(PayloadValidationError) as info:
        event.call()
    assert info.value.schema_id == "OrderTotal"
    assert sorted(path for path, _ in info.value.errors()) == ["$.currency", "$.total"]


def test_without_a_response_serializer_the_reply_is_returned_unchanged() -> None:
    transport = RecordingTransport(reply=lambda _: ["anything", 1])
    event = OrderCreatedEvent(client=client_for(transport))
    event.serialize_request(VALID_ORDER)
    assert event.call() == ["anything", 1]


def test_default_client_is_created_on_first_use() -> None:
    event = OrderCreatedEvent()
    client = event.client
    assert isinstance(client, TchuClient)
    assert event.client is client


# ---------------------------------------------------------------------------------------- context helper


def rebuild_request(data: dict[str, Any]) -> dict[str, Any]:
    return {"request": SimpleNamespace(user=SimpleNamespace(id=data.get("order_id")))}


def test_context_helper_is_global() -> None:
    TchuEvent.set_context_helper(rebuild_request)
    assert TchuEvent.get_context_helper() is rebuild_request
    assert OrderCreatedEvent.get_context_helper() is rebuild_request
    OrderCreatedEvent.set_context_helper(None)  # set through a subclass: still the one global helper
    assert TchuEvent.get_context_helper() is None


def test_request_context_prefers_the_given_context() -> None:
    TchuEvent.set_context_helper(rebuild_request)
    event = OrderCreatedEvent()
    given = {"request": "the real request"}
    event.serialize_request(VALID_ORDER, context=given)
    assert event.request_context is given


def test_request_context_falls_back_to_the_global_helper() -> None:
    event = OrderCreatedEvent()
    event.serialize_request(VALID_ORDER)
    assert event.request_context is None
    TchuEvent.set_context_helper(rebuild_request)
    context = event.request_context
    assert context is not None
    assert context["request"].user.id == 1


def test_per_instance_context_helper_wins_over_the_global_one() -> None:
    TchuEvent.set_context_helper(rebuild_request)
    event = OrderCreatedEvent(context_helper=lambda data: {"from": "instance", "n": data["order_id"]})
    event.serialize_request(VALID_ORDER)
    assert event.request_context == {"from": "instance", "n": 1}
    other = OrderCreatedEvent()
    other.serialize_request(VALID_ORDER)
    assert other.request_context is not None
    assert other.request_context["request"].user.id == 1


def test_request_context_is_none_before_serialize_request() -> None:
    TchuEvent.set_context_helper(rebuild_request)
    assert OrderCreatedEvent().request_context is None


# ------------------------------------------------------------------------------------- DRF-style classes

EMPTY = object()


class FakeDRFSerializer:
    """Mimics DRF's constructor and validation protocol (DRF is not installed).

    Like ``rest_framework.serializers.BaseSerializer`` it takes ``instance``, ``data``, ``partial``,
    ``context`` and ``many``; any other keyword reaches ``Field.__init__``, whose keywords are fixed, so it
    is a TypeError.
    """

    def __init__(self, instance: Any = None, data: Any = EMPTY, **kwargs: Any) -> None:
        self.instance = instance
        self.initial_data = data
        self.partial = kwargs.pop("partial", False)
        self.context = kwargs.pop("context", {})
        kwargs.pop("many", None)
        if kwargs:
            raise TypeError(f"Field.__init__() got unexpected keyword arguments {sorted(kwargs)}")
        self._errors: dict[str, Any] = {}
        self._validated: dict[str, Any] = {}

    def is_valid(self) -> bool:
        data = self.initial_data
        errors: dict[str, Any] = {}
        if "@" not in str(data.get("email", "")):
            errors["email"] = ["Enter a valid email address."]
        items = data.get("items", [])
        item_errors = [{} if item.get("quantity", 0) >= 1 else {"quantity": ["Must be >= 1."]} for item in items]
        if any(item_errors):
            errors["items"] = item_errors
        if data.get("address", {}).get("zip") is None:
            errors["address"] = {"zip": ["This field is required."], "non_field_errors": ["Incomplete."]}
        if data.get("email") == data.get("name"):
            errors["non_field_errors"] = ["Name and email must differ."]
        self._errors = errors
        if not errors:
            self._validated = {**data, "seen_context": sorted(self.context)}
        return not errors

    @property
    def errors(self) -> dict[str, Any]:
        return self._errors

    @property
    def validated_data(self) -> dict[str, Any]:
        return self._validated


class SignupEvent(TchuEvent):
    class Meta:
        topic = "user.signed_up"
        request_serializer_class = FakeDRFSerializer


GOOD_SIGNUP = {"email": "a@example.com", "name": "Ada", "items": [{"quantity": 1}], "address": {"zip": "1"}}


def test_drf_style_serializer_validates_and_gets_the_context() -> None:
    event = SignupEvent()
    result = event.serialize_request(GOOD_SIGNUP, context={"request": "r"})
    assert result == {**GOOD_SIGNUP, "seen_context": ["request"]}
    assert event.validated_data == result
    assert event["email"] == "a@example.com"


def test_drf_style_nested_errors_map_to_json_paths() -> None:
    event = SignupEvent()
    bad = {"email": "x", "name": "x", "items": [{"quantity": 1}, {"quantity": 0}], "address": {}}
    with pytest.raises(PayloadValidationError) as info:
        event.serialize_request(bad)
    assert info.value.schema_id == "FakeDRFSerializer"
    assert info.value.routing_key == "user.signed_up"
    assert sorted(info.value.errors()) == [
        ("$", "Name and email must differ."),
        ("$.address", "Incomplete."),
        ("$.address.zip", "This field is required."),
        ("$.email", "Enter a valid email address."),
        ("$.items[1].quantity", "Must be >= 1."),
    ]


def test_skip_authorization_reaches_a_serializer_that_accepts_it_as_2_2_3_passed_it() -> None:
    received: dict[str, object] = {}

    class AuthAwareSerializer(FakeDRFSerializer):
        def __init__(self, *, skip_authorization: bool = False, skip_reason: str | None = None, **kwargs):
            received.update(skip_authorization=skip_authorization, skip_reason=skip_reason)
            super().__init__(**kwargs)

    event = TchuEvent(topic="user.signup", request_serializer_class=AuthAwareSerializer)
    event.serialize_request(GOOD_SIGNUP, skip_authorization=True, skip_reason="system job")
    assert event["email"] == "a@example.com"
    assert received == {"skip_authorization": True, "skip_reason": "system job"}


def test_skip_authorization_is_ignored_by_pydantic_serializers() -> None:
    event = OrderCreatedEvent()
    assert event.serialize_request(VALID_ORDER, skip_authorization=True, skip_reason="job")["order_id"] == 1


def test_drf_style_response_serializer_validates_call_replies() -> None:
    class SignupCheck(TchuEvent):
        class Meta:
            topic = "user.check_signup"
            response_serializer_class = FakeDRFSerializer

    transport = RecordingTransport(reply=lambda _: {"email": "bad", "name": "n", "address": {"zip": "1"}})
    event = SignupCheck(client=client_for(transport))
    event.serialize_request({"any": "thing"})
    with pytest.raises(PayloadValidationError, match=r"\$\.email: Enter a valid email address"):
        event.call()


# ---------------------------------------------------------------------------------------------- subscribe


def test_subscribe_registers_on_the_default_router(restore_default_router: None) -> None:
    received: list[TchuEvent] = []

    def handle_order(event: TchuEvent) -> None:
        received.append(event)

    event = OrderCreatedEvent(handler=handle_order)
    owner = f"{OrderCreatedEvent.__module__}.{OrderCreatedEvent.__qualname__}"
    expected_id = f"{owner}:{handle_order.__module__}.{handle_order.__qualname__}"
    assert default_router.handlers_for("order.created") == ()

    assert event.subscribe() == expected_id
    assert event.subscribe() == expected_id  # twice: still one registration
    subs = default_router.handlers_for("order.created")
    assert [s.handler_id for s in subs] == [expected_id]

    Dispatcher(default_router, Catalog()).dispatch(Envelope.new("order.created", VALID_ORDER))
    (got,) = received
    assert isinstance(got, OrderCreatedEvent)
    assert got.validated_data == {**VALID_ORDER, "note": ""}


def test_subscribed_handler_rejects_invalid_events(restore_default_router: None) -> None:
    received: list[TchuEvent] = []
    OrderCreatedEvent(handler=received.append).subscribe()
    with pytest.raises(HandlerError, match="PayloadValidationError"):
        Dispatcher(default_router, Catalog()).dispatch(Envelope.new("order.created", {"order_id": "x"}))
    assert received == []


def test_subscribe_without_a_handler_raises_setup_error() -> None:
    with pytest.raises(SetupError, match="has no handler"):
        OrderCreatedEvent().subscribe()


def test_subscribe_keeps_constructor_arguments(restore_default_router: None) -> None:
    received: list[TchuEvent] = []
    TchuEvent(topic="audit.logged", request_serializer_class=OrderRequest, handler=received.append).subscribe()
    Dispatcher(default_router, Catalog()).dispatch(Envelope.new("audit.logged", VALID_ORDER))
    (got,) = received
    assert got.topic == "audit.logged"
    assert got.validated_data == {**VALID_ORDER, "note": ""}
