"""Celery app of the notifications service."""

from celery import Celery

import tchu
from examples.settings import BROKER_URL, RESULT_BACKEND

app = Celery("notifications", broker=BROKER_URL, backend=RESULT_BACKEND)
service = tchu.setup_service(app, "notifications", handlers=["examples.notifications.subscribers"])
