"""The Celery app of the orders service, set up as a tchu service in one line.

celery -A examples.django_orders.celery worker --pool=solo -l INFO
"""

import os

from celery import Celery

import tchu.contrib.django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_orders.settings")

app = Celery("orders")
app.config_from_object("django.conf:settings", namespace="CELERY")
service = tchu.contrib.django.setup(app, service="orders")  # handlers: every installed app's subscribers module
