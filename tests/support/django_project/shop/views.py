from django.db import transaction
from rest_framework.response import Response
from rest_framework.views import APIView

from django_project.shop.events import OrderPlacedEvent, client
from django_project.shop.serializers import OrderInputSerializer
from tchu.contrib.django import publish_on_commit


class PlaceOrder(APIView):
    """POST /orders/: saves the order and, once committed, publishes who placed it."""

    def post(self, request):
        serializer = OrderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = getattr(request.user, "user_company", None)
        with transaction.atomic():
            order = serializer.save(placed_by=request.user, company=membership.company if membership else None)
            event = OrderPlacedEvent(client=client())
            event.serialize_request(
                {**request.data, "order_id": order.pk, "total": order.total}, context={"request": request}
            )
            placed = publish_on_commit(event)
        return Response({"id": order.pk, "created_event": order.created_event_id, "placed_event": placed}, status=201)
