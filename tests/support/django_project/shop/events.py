from django_project.shop.serializers import OrderCreatedSerializer, OrderPlacedSerializer
from tchu import TchuClient, TchuEvent

_client = None


def client():
    """The shop's client (on Celery's current app unless a test set another with use_client())."""
    global _client  # noqa: PLW0603 -- one client per process
    if _client is None:
        _client = TchuClient()
    return _client


def use_client(new):
    global _client  # noqa: PLW0603
    _client = new


class OrderCreatedEvent(TchuEvent):
    class Meta:
        topic = "shop.order.created"
        request_serializer_class = OrderCreatedSerializer


class OrderPlacedEvent(TchuEvent):
    class Meta:
        topic = "shop.order.placed"
        request_serializer_class = OrderPlacedSerializer
