"""The typed runtime behind generated code: publish, call, subscribe and respond with Pydantic models.

Everything runs in memory: a RecordingTransport instead of a broker, a Dispatcher instead of a worker.
Importing ``generated`` registers its schemas in ``tchu.default_catalog``; this module takes them out again at
once and the ``generated_catalog`` fixture registers them only while its tests run, so other test modules in the
same process see the catalog they expect. What the tests register on ``tchu.default_router`` is removed again
by the ``default_router_restored`` fixture.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from doubles import RecordingTransport
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

import generated
from generated import (
    OrderCalculateTotalResponse,
    OrderItem,
    UserCreated,
    UserDeleted,
    UserUpdated,
    call_order_calculate_total,
    on,
    on_user_created,
    publish_user_created,
    responds_order_calculate_total,
)
from tchu import typed
from tchu.catalog import Catalog, EventSchema, default_catalog
from tchu.client import TchuClient
from tchu.dispatch import Dispatcher
from tchu.envelope import Envelope
from tchu.errors import FieldProblem, HandlerError, PayloadValidationError, SetupError
from tchu.router import Router, default_handler_id, default_router
from tchu.typed import (
    build_model,
    call_typed,
    default_client,
    publish_typed,
    pydantic_problems,
    respond_typed,
    set_default_client,
    subscribe_typed,
)


def _unregister_generated() -> None:
    for key in generated._catalog.SCHEMAS:  # noqa: SLF001 -- the generated package's embedded catalog
        default_catalog.unregister(key)


_unregister_generated()  # importing registered them; only this module's tests should see them


@pytest.fixture(autouse=True, scope="module")
def generated_catalog() -> Iterator[None]:
    """The generated package's schemas in tchu's default catalog, for this module's tests only."""
    generated._catalog.register()  # noqa: SLF001 -- the generated package's own registration entry point
    yield
    _unregister_generated()


PLACED = "shop.order.placed"
CANCELLED = "shop.order.cancelled"
QUOTE = "shop.order.quote"


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(max_length=8)  # the schema has no maxLength: a problem only the model finds
    quantity: int = Field(ge=1)
    gift_wrap: bool | None = Field(None, alias="gift-wrap")


class OrderPlaced(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: int = Field(ge=1)
    lines: list[Line] = Field(min_length=1)
    note: str | None = None
    coupon: str | None = Field(None, alias="coupon-code")
    channel: Literal["web", "shop"] = "web"
    placed_at: dt.datetime | None = None
    ref: uuid.UUID | None = None


class OrderCancelled(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: int = Field(ge=1)


class Quote(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: int = Field(ge=1)


class QuoteReply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    total: float = Field(ge=0)
    currency: str = "EUR"
    valid_days: int | None = None


PLACED_SCHEMA = EventSchema(
    PLACED,
    {
        "type": "object",
        "properties": {
            "order_id": {"type": "integer", "minimum": 1},
            "lines": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "sku": {"type": "string"},
                        "quantity": {"type": "integer", "minimum": 1},
                        "gift-wrap": {"type": "boolean"},
                    },
                    "required": ["sku", "quantity"],
                    "additionalProperties": False,
                },
            },
            "note": {"type": ["string", "null"]},
            "coupon-code": {"type": ["string", "null"]},
            "channel": {"enum": ["web", "shop"]},
            "placed_at": {"type": "string"},
            "ref": {"type": "string"},
        },
        "required": ["order_id", "lines"],
        "additionalProperties": False,
    },
    version=4,
)
ONE_LINE = [{"sku": "a-1", "quantity": 2}]


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport(reply=lambda env: {"total": env.payload["order_id"] * 1.5})


@pytest.fixture
def catalog() -> Catalog:
    catalog = Catalog()
    catalog.register(PLACED_SCHEMA)
    return catalog


@pytest.fixture
def client(transport: RecordingTransport, catalog: Catalog) -> TchuClient:
    return TchuClient(transport=transport, catalog=catalog)


@pytest.fixture
def default_router_restored() -> Iterator[None]:
    """Whatever a test registers on ``default_router`` is gone afterwards; what was there stays."""
    subs, responders = default_router.subscriptions(), default_router.responders()
    yield
    default_router.clear()
    for sub in subs:
        default_router.add(sub.pattern, sub.handler, name=sub.name, handler_id=sub.handler_id, metadata=sub.metadata)
    for resp in responders:
        default_router.respond(resp.routing_key, handler_id=resp.handler_id)(resp.handler)


@pytest.fixture
def default_client_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process-wide client starts unset and is put back as it was."""
    monkeypatch.setattr(typed, "_client", None)


def problems(exc: PayloadValidationError) -> list[tuple[str, str]]:
    return exc.errors()


# --- publish_typed ---------------------------------------------------------------------------------------------


def test_publish_typed_sends_the_model_by_alias_without_unset_fields_and_returns_the_event_id(
    client: TchuClient, transport: RecordingTransport
) -> None:
    ref = uuid.UUID(int=9)
    at = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    event_id = publish_typed(
        PLACED,
        OrderPlaced,
        {"order_id": 3, "lines": [Line(sku="a-1", quantity=2)], "coupon": "SAVE", "placed_at": at, "ref": ref},
        client,
    )
    [env] = transport.sent
    assert event_id == env.event_id
    assert env.routing_key == PLACED
    assert env.schema_version == 4
    assert env.payload == {
        "order_id": 3,
        "lines": [{"sku": "a-1", "quantity": 2}],
        "coupon-code": "SAVE",
        "placed_at": "2024-05-01T12:30:00Z",
        "ref": str(ref),
    }  # channel and note were never set: left out


def test_publish_typed_accepts_aliases_as_well_as_field_names(
    client: TchuClient, transport: RecordingTransport
) -> None:
    publish_typed(PLACED, OrderPlaced, {"order_id": 1, "lines": ONE_LINE, "coupon-code": "X"}, client)
    assert transport.sent[0].payload == {"order_id": 1, "lines": ONE_LINE, "coupon-code": "X"}


def test_omit_none_drops_only_the_named_fields_and_only_when_none(
    client: TchuClient, transport: RecordingTransport
) -> None:
    values = {"order_id": 1, "lines": ONE_LINE, "note": None, "coupon": None, "channel": "web"}
    publish_typed(PLACED, OrderPlaced, values, client, omit_none=("coupon",))
    publish_typed(PLACED, OrderPlaced, {**values, "coupon": ""}, client, omit_none=("coupon", "note"))
    first, second = (env.payload for env in transport.sent)
    # note is None but not named: it is sent as null; a default given explicitly (channel) is sent too
    assert first == {"order_id": 1, "lines": ONE_LINE, "note": None, "channel": "web"}
    # an empty string is not None: kept
    assert second == {"order_id": 1, "lines": ONE_LINE, "coupon-code": "", "channel": "web"}


def test_publish_typed_uses_the_default_client_when_given_none(
    default_client_restored: None, transport: RecordingTransport, catalog: Catalog
) -> None:
    set_default_client(TchuClient(transport=transport, catalog=catalog))
    event_id = publish_typed(PLACED, OrderPlaced, {"order_id": 1, "lines": ONE_LINE})
    assert [env.event_id for env in transport.sent] == [event_id]


def test_without_a_catalog_entry_the_model_names_every_failing_field(transport: RecordingTransport) -> None:
    client = TchuClient(transport=transport, catalog=Catalog())
    with pytest.raises(PayloadValidationError) as info:
        publish_typed(
            PLACED, OrderPlaced, {"order_id": 0, "lines": [{"sku": "a", "quantity": 0}], "channel": "fax"}, client
        )
    exc = info.value
    assert (exc.routing_key, exc.schema_id) == (PLACED, "OrderPlaced")
    assert [path for path, _ in problems(exc)] == ["$.channel", "$.lines[0].quantity", "$.order_id"]
    assert "greater than or equal to 1" in dict(problems(exc))["$.order_id"]
    assert transport.sent == []


def test_schema_problems_are_preferred_and_the_models_added_for_other_fields(
    client: TchuClient, transport: RecordingTransport
) -> None:
    with pytest.raises(PayloadValidationError) as info:
        publish_typed(PLACED, OrderPlaced, {"order_id": 0, "lines": [{"sku": "much-too-long", "quantity": 0}]}, client)
    assert problems(info.value) == [
        ("$.lines[0].quantity", "0 is less than the minimum of 1"),  # the schema's words ...
        ("$.lines[0].sku", "String should have at most 8 characters"),  # ... and the model's where it is silent
        ("$.order_id", "0 is less than the minimum of 1"),
    ]
    assert info.value.schema_id == PLACED_SCHEMA.schema_id  # the schema's id: its words come first
    assert transport.sent == []


def test_a_missing_required_field_is_named_once_in_the_schemas_words(
    client: TchuClient, transport: RecordingTransport
) -> None:
    with pytest.raises(PayloadValidationError) as info:
        publish_typed(PLACED, OrderPlaced, {"lines": ONE_LINE}, client)
    assert problems(info.value) == [("$.order_id", "is required")]
    assert transport.sent == []


def test_models_among_the_values_are_checked_as_they_would_be_sent(
    client: TchuClient, transport: RecordingTransport
) -> None:
    # by alias, and without the fields never set (gift-wrap's default None would break the schema)
    lines = [Line.model_validate({"sku": "a", "quantity": 1, "gift-wrap": True}), Line(sku="b", quantity=1)]
    with pytest.raises(PayloadValidationError) as info:
        publish_typed(PLACED, OrderPlaced, {"order_id": 0, "lines": lines}, client)
    assert problems(info.value) == [("$.order_id", "0 is less than the minimum of 1")]
    publish_typed(PLACED, OrderPlaced, {"order_id": 1, "lines": lines}, client)
    assert transport.sent[0].payload["lines"] == [
        {"sku": "a", "quantity": 1, "gift-wrap": True},
        {"sku": "b", "quantity": 1},
    ]


def test_the_default_catalog_is_left_alone(client: TchuClient) -> None:
    before = default_catalog.keys()
    with pytest.raises(PayloadValidationError):
        publish_typed(PLACED, OrderPlaced, {"order_id": 0, "lines": ONE_LINE}, client)
    assert default_catalog.keys() == before
    assert PLACED not in before


class Signup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    class_: Literal["person", "company"] = Field(..., alias="class")
    score: float = Field(..., ge=0)


SIGNUP_SCHEMA = EventSchema(
    "shop.signup",
    {
        "type": "object",
        "properties": {"class": {"enum": ["person", "company"]}, "score": {"type": "number", "minimum": 0}},
        "required": ["class", "score"],
        "additionalProperties": False,
    },
)


def test_a_field_passed_by_name_is_sent_by_alias(transport: RecordingTransport) -> None:
    catalog = Catalog()
    catalog.register(SIGNUP_SCHEMA)
    client = TchuClient(transport=transport, catalog=catalog)
    publish_typed("shop.signup", Signup, {"class_": "person", "score": 1}, client)
    assert transport.sent[0].payload == {"class": "person", "score": 1.0}


def test_a_field_passed_by_name_is_checked_by_its_alias_against_the_schema(transport: RecordingTransport) -> None:
    catalog = Catalog()
    catalog.register(SIGNUP_SCHEMA)
    client = TchuClient(transport=transport, catalog=catalog)
    with pytest.raises(PayloadValidationError) as info:
        publish_typed("shop.signup", Signup, {"class_": "person", "score": -1}, client)
    assert problems(info.value) == [("$.score", "-1 is less than the minimum of 0")]


class Named(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_name: str | None = Field(None, alias="first-name", max_length=2)


def test_a_field_named_by_both_schema_and_model_is_reported_once_in_the_catalogs_path_syntax(
    transport: RecordingTransport,
) -> None:
    catalog = Catalog()
    catalog.register(
        EventSchema(
            "shop.named",
            {"type": "object", "properties": {"first-name": {"type": "string", "maxLength": 2}}},
        )
    )
    client = TchuClient(transport=transport, catalog=catalog)
    with pytest.raises(PayloadValidationError) as info:
        publish_typed("shop.named", Named, {"first-name": "abc"}, client)
    assert problems(info.value) == [("$['first-name']", '"abc" is longer than 2 characters')]


@pytest.mark.parametrize("bad", [float("nan"), object()], ids=["nan", "object"])
def test_a_value_json_cannot_carry_is_still_named_as_a_failing_field(
    client: TchuClient, transport: RecordingTransport, bad: object
) -> None:
    with pytest.raises(PayloadValidationError) as info:
        publish_typed(PLACED, OrderPlaced, {"order_id": bad, "lines": ONE_LINE}, client)
    assert [path for path, _ in problems(info.value)] == ["$.order_id"]
    assert transport.sent == []


# --- call_typed ------------------------------------------------------------------------------------------------


def test_call_typed_sends_the_request_and_returns_the_reply_model(
    client: TchuClient, transport: RecordingTransport
) -> None:
    reply = call_typed(QUOTE, Quote, QuoteReply, {"order_id": 4}, timeout=2.5, client=client)
    assert type(reply) is QuoteReply
    assert reply == QuoteReply(total=6.0)
    [(env, timeout)] = transport.calls
    assert (env.routing_key, env.payload, timeout) == (QUOTE, {"order_id": 4}, 2.5)
    assert transport.sent == []


def test_call_typed_omits_none_like_publish_typed(client: TchuClient, transport: RecordingTransport) -> None:
    class Ask(BaseModel):
        order_id: int
        hint: str | None = None

    call_typed(QUOTE, Ask, QuoteReply, {"order_id": 2, "hint": None}, client=client, omit_none=("hint",))
    assert transport.calls[0][0].payload == {"order_id": 2}


def test_a_bad_reply_raises_payload_validation_error_naming_its_fields(transport: RecordingTransport) -> None:
    transport.reply = lambda _: {"total": -1, "currency": "EUR", "extra": True}
    client = TchuClient(transport=transport, catalog=Catalog())
    with pytest.raises(PayloadValidationError) as info:
        call_typed(QUOTE, Quote, QuoteReply, {"order_id": 1}, client=client)
    assert info.value.schema_id == "QuoteReply"
    assert [path for path, _ in problems(info.value)] == ["$.total", "$.extra"]


def test_a_bad_request_is_never_sent(client: TchuClient, transport: RecordingTransport) -> None:
    with pytest.raises(PayloadValidationError) as info:
        call_typed(QUOTE, Quote, QuoteReply, {"order_id": 0}, client=client)
    assert [path for path, _ in problems(info.value)] == ["$.order_id"]
    assert transport.calls == []


# --- subscribe_typed -------------------------------------------------------------------------------------------

MODELS: dict[str, type[BaseModel]] = {PLACED: OrderPlaced, CANCELLED: OrderCancelled}


def dispatch(router: Router, key: str, payload: dict[str, Any]) -> None:
    Dispatcher(router, Catalog()).dispatch(Envelope.new(key, payload))


def test_subscribe_typed_hands_the_model_of_the_delivered_key(default_router_restored: None) -> None:
    router, seen = Router(), []
    before = default_router.subscriptions()

    def on_order(event: BaseModel) -> None:
        seen.append(event)

    assert subscribe_typed("shop.order.*", MODELS, on_order, router=router) is on_order
    dispatch(router, PLACED, {"order_id": 1, "lines": ONE_LINE, "coupon-code": "X"})
    dispatch(router, CANCELLED, {"order_id": 2})
    assert seen == [
        OrderPlaced.model_validate({"order_id": 1, "lines": ONE_LINE, "coupon-code": "X"}),
        OrderCancelled(order_id=2),
    ]
    assert [type(e) for e in seen] == [OrderPlaced, OrderCancelled]
    [sub] = router.subscriptions()
    assert (sub.pattern.pattern, sub.handler_id, sub.name) == ("shop.order.*", default_handler_id(on_order), "on_order")
    assert default_router.subscriptions() == before


def test_a_key_without_a_model_is_skipped_and_a_payload_the_model_rejects_fails_the_handler() -> None:
    router, seen = Router(), []
    subscribe_typed("shop.order.*", MODELS, seen.append, router=router)
    dispatch(router, "shop.order.shipped", {"order_id": 1})  # newer than the package: not this handler's event
    assert seen == []
    with pytest.raises(HandlerError) as info:
        dispatch(router, CANCELLED, {"order_id": 0})
    assert info.value.failures[0].error_type == "PayloadValidationError"
    assert "$.order_id" in info.value.failures[0].message
    assert seen == []


def test_subscribe_typed_with_no_models_is_a_setup_error(default_router_restored: None) -> None:
    router = Router()
    before = default_router.subscriptions()

    def never(event: BaseModel) -> None: ...

    with pytest.raises(SetupError, match="matches no event of the catalog"):
        subscribe_typed("nope.*", {}, never, router=router)
    assert router.subscriptions() == ()
    assert default_router.subscriptions() == before


def test_subscribing_the_same_function_again_keeps_one_registration() -> None:
    router, seen = Router(), []

    def on_cancelled(event: OrderCancelled) -> None:
        seen.append(event.order_id)

    subscribe_typed(CANCELLED, {CANCELLED: OrderCancelled}, on_cancelled, router=router)
    subscribe_typed(CANCELLED, {CANCELLED: OrderCancelled}, on_cancelled, router=router)
    assert len(router.subscriptions()) == 1
    dispatch(router, CANCELLED, {"order_id": 5})
    assert seen == [5]


# --- respond_typed ---------------------------------------------------------------------------------------------


def respond(router: Router, payload: dict[str, Any]) -> Any:
    return Dispatcher(router, Catalog()).respond(Envelope.new(QUOTE, payload))


def test_respond_typed_hands_the_model_and_dumps_a_returned_model(default_router_restored: None) -> None:
    router, seen = Router(), []
    before = default_router.responders()

    def quote(request: Quote) -> QuoteReply:
        seen.append(request)
        return QuoteReply(total=request.order_id * 2.0, valid_days=None)

    assert respond_typed(QUOTE, Quote, quote, router=router) is quote
    # by alias, set fields only: valid_days was set (to None), currency was not
    assert respond(router, {"order_id": 3}) == {"total": 6.0, "valid_days": None}
    assert seen == [Quote(order_id=3)]
    assert router.responder_for(QUOTE).handler_id == default_handler_id(quote)  # type: ignore[union-attr]
    assert default_router.responders() == before


def test_a_returned_dict_is_the_reply_as_it_is() -> None:
    router = Router()
    respond_typed(QUOTE, Quote, lambda _: {"total": 1, "currency": "USD"}, router=router)
    assert respond(router, {"order_id": 3}) == {"total": 1, "currency": "USD"}


def test_responding_with_the_same_function_again_is_not_a_conflict() -> None:
    router = Router()

    def quote(request: Quote) -> dict[str, Any]:
        return {"total": 0}

    respond_typed(QUOTE, Quote, quote, router=router)
    respond_typed(QUOTE, Quote, quote, router=router)
    assert len(router.responders()) == 1

    def other(request: Quote) -> dict[str, Any]:
        return {"total": 1}

    with pytest.raises(SetupError, match="already responds"):
        respond_typed(QUOTE, Quote, other, router=router)


def test_an_invalid_request_fails_the_responder() -> None:
    router = Router()
    respond_typed(QUOTE, Quote, lambda _: {"total": 0}, router=router)
    with pytest.raises(PayloadValidationError) as info:
        respond(router, {"order_id": 0})
    assert [path for path, _ in problems(info.value)] == ["$.order_id"]


# --- the default client ----------------------------------------------------------------------------------------


def test_default_client_is_created_once_and_can_be_replaced(default_client_restored: None) -> None:
    first = default_client()
    assert isinstance(first, TchuClient)
    assert default_client() is first
    mine = TchuClient(transport=RecordingTransport())
    set_default_client(mine)
    assert default_client() is mine
    set_default_client(None)
    fresh = default_client()
    assert fresh is not mine
    assert fresh is not first


# --- helpers ---------------------------------------------------------------------------------------------------


class Checked(BaseModel):
    low: int
    high: int

    @model_validator(mode="after")
    def ordered(self) -> Checked:
        if self.low > self.high:
            raise ValueError("low above high")
        return self


def test_pydantic_problems_are_json_paths() -> None:
    with pytest.raises(ValidationError) as info:
        OrderPlaced.model_validate({"order_id": "x", "lines": [ONE_LINE[0], {"sku": "b", "quantity": 0}]})
    assert [p.path for p in pydantic_problems(info.value)] == ["$.order_id", "$.lines[1].quantity"]
    with pytest.raises(ValidationError) as info:
        Checked.model_validate({"low": 2, "high": 1})
    assert pydantic_problems(info.value) == [FieldProblem("$", "Value error, low above high")]


def test_build_model_takes_instances_names_and_aliases() -> None:
    line = Line(sku="a", quantity=1)
    assert build_model(PLACED, Line, line) is line
    by_name = build_model(PLACED, OrderPlaced, {"order_id": 1, "lines": ONE_LINE, "coupon": "C"})
    by_alias = build_model(PLACED, OrderPlaced, {"order_id": 1, "lines": ONE_LINE, "coupon-code": "C"})
    assert by_name == by_alias
    assert by_name.coupon == "C"
    with pytest.raises(PayloadValidationError) as info:
        build_model(PLACED, OrderPlaced, {"order_id": 1, "lines": []})
    assert (info.value.routing_key, info.value.schema_id) == (PLACED, "OrderPlaced")
    assert [path for path, _ in problems(info.value)] == ["$.lines"]


# --- the generated package -------------------------------------------------------------------------------------


def test_generated_publisher_sends_exactly_the_expected_payload() -> None:
    transport = RecordingTransport()
    event_id = publish_user_created(
        user_id=1, email="ada@example.com", name="Ada", client=TchuClient(transport=transport)
    )
    [env] = transport.sent
    assert env.event_id == event_id
    assert env.routing_key == "user.created"
    assert env.schema_version == 1
    assert env.body == '{"user_id":1,"email":"ada@example.com","name":"Ada","plan":"free"}'


def test_generated_publisher_sends_optional_fields_when_given() -> None:
    transport = RecordingTransport()
    at = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    publish_user_created(
        user_id=1,
        email="ada@example.com",
        name="Ada",
        plan="pro",
        referrer_id=7,
        created_at=at,
        client=TchuClient(transport=transport),
    )
    assert transport.sent[0].payload == {
        "user_id": 1,
        "email": "ada@example.com",
        "name": "Ada",
        "plan": "pro",
        "referrer_id": 7,
        "created_at": "2024-01-02T03:04:05Z",
    }


def test_generated_publisher_names_every_failing_field_and_sends_nothing() -> None:
    transport = RecordingTransport()
    with pytest.raises(PayloadValidationError) as info:
        publish_user_created(user_id=0, email="not an email", name="", client=TchuClient(transport=transport))
    assert [path for path, _ in problems(info.value)] == ["$.email", "$.name", "$.user_id"]
    assert transport.sent == []


def test_generated_call_returns_the_reply_model() -> None:
    transport = RecordingTransport(reply=lambda _: {"total": {"amount": 5.0, "currency": "EUR"}})
    reply = call_order_calculate_total(
        items=[OrderItem(id=1, quantity=2)], timeout=3.0, client=TchuClient(transport=transport)
    )
    assert isinstance(reply, OrderCalculateTotalResponse)
    assert (reply.total.amount, reply.total.currency, reply.discount) == (5.0, "EUR", None)
    [(env, timeout)] = transport.calls
    assert (env.payload, timeout) == ({"items": [{"id": 1, "quantity": 2}]}, 3.0)


def test_generated_on_registers_on_the_default_router(default_router_restored: None) -> None:
    before = default_router.subscriptions()
    seen: list[BaseModel] = []

    def track_user_event(event: UserCreated | UserUpdated | UserDeleted) -> None:
        seen.append(event)

    assert on("user.*")(track_user_event) is track_user_event
    [added] = [s for s in default_router.subscriptions() if s not in before]
    assert (added.pattern.pattern, added.handler_id) == ("user.*", default_handler_id(track_user_event))
    # run just this registration, with the generated schemas of the default catalog
    router = Router()
    router.add(added.pattern, added.handler, handler_id=added.handler_id)
    dispatcher = Dispatcher(router, default_catalog)
    dispatcher.dispatch(Envelope.new("user.created", {"user_id": 1, "email": "ada@example.com", "name": "Ada"}))
    dispatcher.dispatch(Envelope.new("user.deleted", {"user_id": 1, "reason": "gdpr"}))
    assert seen == [UserCreated(user_id=1, email="ada@example.com", name="Ada"), UserDeleted(user_id=1, reason="gdpr")]


def test_generated_on_for_a_pattern_matching_no_event_is_a_setup_error(default_router_restored: None) -> None:
    before = default_router.subscriptions()

    def never(event: BaseModel) -> None: ...

    with pytest.raises(SetupError, match=re.escape("'nope.*' matches no event of the catalog")):
        on("nope.*")(never)  # type: ignore[call-overload]
    assert default_router.subscriptions() == before


def test_generated_subscriber_and_responder_register_once_on_the_default_router(default_router_restored: None) -> None:
    before = len(default_router.subscriptions())

    def welcome(event: UserCreated) -> None: ...

    def total(request: Any) -> OrderCalculateTotalResponse:
        return OrderCalculateTotalResponse.model_validate({"total": {"amount": 1.0, "currency": "EUR"}})

    on_user_created(welcome)
    on_user_created(welcome)
    responds_order_calculate_total(total)
    assert len(default_router.subscriptions()) == before + 1
    reply = Dispatcher(default_router, default_catalog).respond(
        Envelope.new("order.calculate_total", {"items": [{"id": 1, "quantity": 1}]})
    )
    assert reply == {"total": {"amount": 1.0, "currency": "EUR"}}


def test_the_generated_package_registered_its_schemas_in_the_default_catalog() -> None:
    assert set(generated.EVENT_MODELS) <= set(default_catalog.keys())
    assert {"user.validate", "order.calculate_total"} <= set(default_catalog.keys())
