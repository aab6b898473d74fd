"""The API of the orders service."""

from django.db import transaction
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from examples.django_orders.orders.events import OrderPlacedEvent
from examples.django_orders.orders.serializers import PlaceOrderSerializer
from tchu.contrib.django import publish_on_commit


class PlaceOrderView(APIView):
    """``POST /api/orders/``: saves the order of the user's company and publishes ``order.placed`` on commit."""

    def post(self, request: Request) -> Response:
        membership = getattr(request.user, "user_company", None)
        if membership is None:
            return Response({"detail": "you are not a member of a company"}, status=status.HTTP_403_FORBIDDEN)
        serializer = PlaceOrderSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            order = serializer.save(company=membership.company, placed_by=request.user)  # post_save: order.created
            event = OrderPlacedEvent()
            event.serialize_request(
                {
                    "order_id": order.pk,
                    "items": order.items,
                    "total_amount": order.total_amount,
                    "currency": order.currency,
                },
                context={"request": request},  # adds the request's user, company and user company
            )
            event_id = publish_on_commit(event)
        return Response({**serializer.data, "event_id": event_id}, status=status.HTTP_201_CREATED)
