"""Found by tchu.contrib.django.setup() because it is the shop app's ``subscribers`` module."""

from recorder import record

from tchu import subscribe


@subscribe("shop.ping")
def answer_ping(data):
    record("answer_ping", data)
