"""The events of the orders service.

``order.created`` is the catalog's event (``schemas/order.created.json``), validated by the generated model: it
is published for every new order, whoever creates it. Its schema admits no other properties, so who placed an
order through the API travels in ``order.placed``, whose DRF serializer adds the request's user and company.
"""

from examples.django_orders.orders.serializers import OrderPlacedSerializer
from generated import OrderCreated
from tchu import TchuEvent


class OrderCreatedEvent(TchuEvent):
    class Meta:
        topic = "order.created"
        request_serializer_class = OrderCreated


class OrderPlacedEvent(TchuEvent):
    class Meta:
        topic = "order.placed"
        request_serializer_class = OrderPlacedSerializer
