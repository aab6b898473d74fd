from django.db.models.signals import post_save
from django.dispatch import receiver

from django_project.shop.events import OrderCreatedEvent, client
from django_project.shop.models import Order
from tchu.contrib.django import publish_on_commit


@receiver(post_save, sender=Order)
def announce_order(sender, instance, created, **kwargs):
    """``shop.order.created`` for every new order, sent when its transaction commits."""
    if not created:
        return
    event = OrderCreatedEvent(client=client())
    event.serialize_request(
        {"order_id": instance.pk, "items": instance.items, "total": instance.total, "currency": instance.currency}
    )
    instance.created_event_id = publish_on_commit(event)
