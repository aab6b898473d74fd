"""Celery app of the users service."""

from celery import Celery

import tchu
from examples.settings import BROKER_URL, RESULT_BACKEND

app = Celery("users", broker=BROKER_URL, backend=RESULT_BACKEND)
service = tchu.setup_service(app, "users", handlers=["examples.users.subscribers"])
