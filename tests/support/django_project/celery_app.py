"""The Celery app of a test project service, set up in one line; the service name is TCHU_TEST_SERVICE."""

import os

import tchu.contrib.django
from tchu._celery import new_app

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_project.settings")  # before the app: Celery's Django fixup

SERVICE = os.environ.get("TCHU_TEST_SERVICE", "shop")
app = new_app(SERVICE, os.environ.get("TCHU_TEST_BROKER_URL", "memory://"), broker_connection_retry_on_startup=True)
service = tchu.contrib.django.setup(app, service=SERVICE)
