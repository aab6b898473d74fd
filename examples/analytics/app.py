"""Celery app of the analytics service."""

from celery import Celery

import tchu
from examples.settings import BROKER_URL, RESULT_BACKEND

app = Celery("analytics", broker=BROKER_URL, backend=RESULT_BACKEND)
service = tchu.setup_service(app, "analytics", handlers=["examples.analytics.subscribers"])
