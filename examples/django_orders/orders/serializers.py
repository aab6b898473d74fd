"""What clients post, and what the ``order.placed`` event carries."""

from typing import Any

from rest_framework import serializers

from examples.django_orders.orders.models import Order
from tchu.contrib.django.serializers import RequestContextSerializer


def check_items(items: Any) -> Any:
    if not isinstance(items, list) or not items:
        raise serializers.ValidationError("a non-empty list of {id, quantity} objects")
    for item in items:
        if not isinstance(item, dict) or set(item) != {"id", "quantity"}:
            raise serializers.ValidationError("each item is an object with exactly id and quantity")
    return items


class PlaceOrderSerializer(serializers.ModelSerializer):
    """``POST /api/orders/``: ``{"items": [{"id": 1, "quantity": 2}], "total_amount": "19.50", "currency": "EUR"}``."""

    items = serializers.JSONField(validators=[check_items])

    class Meta:
        model = Order
        fields = ("id", "items", "total_amount", "currency", "coupon", "status")
        read_only_fields = ("id", "status")


class OrderPlacedSerializer(RequestContextSerializer):
    """``order.placed``: the order and who placed it (the request's user, company and user company)."""

    order_id = serializers.IntegerField(min_value=1)
    items = serializers.JSONField(validators=[check_items])
    total_amount = serializers.DecimalField(max_digits=10, decimal_places=2)
    currency = serializers.CharField(min_length=3, max_length=3)
