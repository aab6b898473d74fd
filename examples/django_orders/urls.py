"""URLs of the orders service."""

from django.urls import path

from examples.django_orders.orders.views import PlaceOrderView

urlpatterns = [path("api/orders/", PlaceOrderView.as_view(), name="place-order")]
