"""Type-level tests of the committed ``generated`` package: mypy --strict must accept every line of this file.

Not collected by pytest and never run: tests/typing/test_typing.py type-checks it. The code sits in functions so
that importing it would not subscribe anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, assert_type

from pydantic import BaseModel

from generated import (
    OrderCalculateTotal,
    OrderCalculateTotalResponse,
    OrderCreated,
    OrderItem,
    OrderPaymentCompleted,
    UserCreated,
    UserDeleted,
    UserUpdated,
    UserValidate,
    UserValidateResponse,
    call_order_calculate_total,
    call_user_validate,
    on,
    on_user_created,
    publish_order_created,
    publish_user_created,
    responds_order_calculate_total,
    responds_user_validate,
)
from generated.models import Money
from tchu import TchuClient


def publishers(client: TchuClient) -> None:
    assert_type(publish_user_created(user_id=1, email="a@example.com", name="A"), str)
    assert_type(
        publish_user_created(user_id=1, email="a@example.com", name="A", plan="pro", referrer_id=None, client=client),
        str,
    )
    total = Money(amount=19.5, currency="EUR")
    assert_type(publish_order_created(order_id=1, user_id=2, items=[OrderItem(id=1, quantity=2)], total=total), str)


def callers(client: TchuClient) -> None:
    assert_type(call_order_calculate_total(items=[OrderItem(id=1, quantity=1)]), OrderCalculateTotalResponse)
    reply = call_order_calculate_total(items=[OrderItem(id=1, quantity=1)], discount_code="SAVE10", timeout=2.5)
    assert_type(reply.total, Money)
    assert_type(reply.discount, Money | None)
    assert_type(call_user_validate(email="a@example.com", client=client).valid, bool)


def subscribers() -> None:
    @on_user_created
    def welcome(event: UserCreated) -> int:
        return event.user_id

    # the decorator returns the handler itself: its parameter name and return type survive
    assert_type(welcome(event=UserCreated(user_id=1, email="a@example.com", name="A")), int)

    def plain(event: UserCreated) -> None: ...

    handler: Callable[[UserCreated], None] = plain
    assert_type(on_user_created(handler), Callable[[UserCreated], None])

    @on_user_created
    def accepts_any_model(event: BaseModel) -> None: ...  # a wider parameter is fine

    @on("user.*")
    def user_events(event: UserCreated | UserUpdated | UserDeleted) -> str:
        return type(event).__name__

    assert_type(user_events(event=UserDeleted(user_id=1)), str)

    def plain_union(event: UserCreated | UserUpdated | UserDeleted) -> None: ...

    union_handler: Callable[[UserCreated | UserUpdated | UserDeleted], None] = plain_union
    assert_type(on("user.*")(union_handler), Callable[[UserCreated | UserUpdated | UserDeleted], None])

    @on("order.#")
    def order_events(event: OrderCreated | OrderPaymentCompleted) -> int:
        return event.order_id

    assert_type(order_events(event=OrderPaymentCompleted.model_construct()), int)

    @on("user.created")
    def one_event(event: UserCreated) -> None: ...

    @on("#")
    def everything(event: BaseModel) -> None: ...


def responders() -> None:
    @responds_order_calculate_total
    def price(request: OrderCalculateTotal) -> OrderCalculateTotalResponse:
        return OrderCalculateTotalResponse(total=Money(amount=len(request.items), currency="EUR"))

    request = OrderCalculateTotal(items=[OrderItem(id=1, quantity=1)], discount_code=None)
    assert_type(price(request=request), OrderCalculateTotalResponse)

    @responds_user_validate
    def validate(request: UserValidate) -> dict[str, Any]:
        return {"valid": True, "email": request.email}

    assert_type(validate(request=UserValidate(email="a@example.com")), dict[str, Any])

    responder: Callable[[OrderCalculateTotal], OrderCalculateTotalResponse] = price
    assert_type(responds_order_calculate_total(responder), Callable[[OrderCalculateTotal], OrderCalculateTotalResponse])

    @responds_user_validate
    def validate_model(request: UserValidate) -> UserValidateResponse:
        return UserValidateResponse(valid=True, email=request.email)
