"""Handlers of the orders service, found by ``tchu.contrib.django.setup()`` (this is the app's subscribers module)."""

from typing import Any

from examples.django_orders.orders.models import Order
from generated import OrderPaymentCompleted, on_order_payment_completed
from tchu import subscribe
from tchu.contrib.django import rebuild_request


@on_order_payment_completed
def mark_paid(event: OrderPaymentCompleted) -> None:
    updated = Order.objects.filter(pk=event.order_id).update(status=Order.PAID)
    print(f"[orders] order {event.order_id} paid by {event.method}" + ("" if updated else " (unknown order)"))


@subscribe("order.placed")
def confirm_order(data: dict[str, Any]) -> None:
    request = rebuild_request(data)  # the user and company of the API request, without a database query
    company = request.company.name if request.company else "no company"
    print(f"[orders] confirming order {data['order_id']} to {request.user.email} ({company})")
