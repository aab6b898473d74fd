"""Broker settings of the example services: local RabbitMQ and Redis unless the environment says other."""

import os

BROKER_URL = os.environ.get("TCHU_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
RESULT_BACKEND = os.environ.get("TCHU_RESULT_BACKEND", "redis://127.0.0.1:6379/0")
