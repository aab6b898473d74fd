"""The audit service: who placed each order, rebuilt from the event's request context."""

from recorder import record
from rest_framework import serializers

from tchu import TchuEvent, subscribe
from tchu.contrib.django import rebuild_request
from tchu.contrib.django.serializers import RequestContextSerializer


def describe(request):
    user = request.user
    return {
        "user_type": type(user).__name__,
        "user_id": user.id,
        "email": getattr(user, "email", None),
        "first_name": getattr(user, "first_name", None),
        "is_authenticated": user.is_authenticated,
        "company_id": user.company.id if user.company else None,
        "company_name": user.company.name if user.company else None,
        "user_company_id": user.user_company.id if user.user_company else None,
        "request_company_name": request.company.name if request.company else None,
    }


class OrderPlacedRequest(RequestContextSerializer):
    order_id = serializers.IntegerField()
    items = serializers.JSONField()
    total = serializers.DecimalField(max_digits=10, decimal_places=2)
    currency = serializers.CharField()


class OrderPlaced(TchuEvent):
    class Meta:
        topic = "shop.order.placed"
        request_serializer_class = OrderPlacedRequest


def audit_order(event):
    record("audit_order", event.validated_data, context=describe(event.request_context["request"]))


OrderPlaced(handler=audit_order).subscribe()


@subscribe("shop.order.placed")
def audit_raw(data):
    record("audit_raw", data, context=describe(rebuild_request(data)))
