from rest_framework import serializers

from django_project.shop.models import Order
from tchu.contrib.django.serializers import RequestContextSerializer


class OrderInputSerializer(serializers.ModelSerializer):
    """What a client posts to /orders/."""

    items = serializers.JSONField()

    class Meta:
        model = Order
        fields = ("items", "total", "currency")

    def validate_items(self, items):
        if not isinstance(items, list) or not items:
            raise serializers.ValidationError("a non-empty list of {id, quantity} objects")
        return items


class OrderCreatedSerializer(serializers.Serializer):
    order_id = serializers.IntegerField(min_value=1)
    items = serializers.JSONField()
    total = serializers.DecimalField(max_digits=10, decimal_places=2)
    currency = serializers.CharField(min_length=3, max_length=3)


class OrderPlacedSerializer(RequestContextSerializer):
    """``shop.order.placed``: the order and who placed it (the request's user, company and user company)."""

    order_id = serializers.IntegerField(min_value=1)
    items = serializers.JSONField()
    total = serializers.DecimalField(max_digits=10, decimal_places=2)
    currency = serializers.CharField(min_length=3, max_length=3)
