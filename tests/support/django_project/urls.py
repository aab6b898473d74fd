"""URLs of the test project: the shop's order view when the shop app is installed."""

from django.conf import settings
from django.urls import path

urlpatterns = []
if "django_project.shop" in settings.INSTALLED_APPS:
    from django_project.shop.views import PlaceOrder

    urlpatterns.append(path("orders/", PlaceOrder.as_view()))
