"""Every new order is announced as ``order.created`` once its transaction commits."""

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from examples.django_orders.orders.events import OrderCreatedEvent
from examples.django_orders.orders.models import Order
from tchu.contrib.django import publish_on_commit


@receiver(post_save, sender=Order)
def announce_order(instance: Order, created: bool, **_: Any) -> None:
    if not created:
        return
    event = OrderCreatedEvent()
    event.serialize_request(
        {
            "order_id": instance.pk,
            "user_id": instance.placed_by_id,
            "items": instance.items,
            "total": {"amount": float(instance.total_amount), "currency": instance.currency},
            "coupon": instance.coupon or None,
        }
    )
    publish_on_commit(event)  # validated now; sent after the commit, or never if the transaction rolls back
