"""App configuration of the orders app."""

from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "examples.django_orders.orders"
    label = "orders"

    def ready(self) -> None:
        from examples.django_orders.orders import signals  # noqa: F401, PLC0415 -- connects the post_save receiver
