"""A tchu service for integration tests, configured by environment variables.

TCHU_TEST_SERVICE      service name (users, notifications, analytics, ...)
TCHU_TEST_HANDLERS     handler module to import (default handlers_<service>)
TCHU_TEST_SETUP        "one-call" (default) or "manual" (tchu-tchu 2.2.3's hand-written queue config)
TCHU_TEST_PATTERNS     comma-separated binding keys for the manual set-up
TCHU_TEST_BACKEND      "redis" (default) or "rpc"
TCHU_TEST_SIGNING_KEYS comma-separated key_id=secret pairs: only events signed with one of them are handled
"""

from __future__ import annotations

import importlib
import os

from kombu import Exchange, Queue, binding

from tchu import Signer, create_topic_dispatcher, setup_service
from tchu._celery import new_app
from tchu.idempotency import RedisIdempotency

SERVICE = os.environ["TCHU_TEST_SERVICE"]
HANDLERS = os.environ.get("TCHU_TEST_HANDLERS", f"handlers_{SERVICE}")
BROKER = os.environ["TCHU_TEST_BROKER_URL"]
PREFIX = os.environ["TCHU_TEST_REDIS_PREFIX"]

if os.environ.get("TCHU_TEST_BACKEND", "redis") == "rpc":
    backend, backend_options = "rpc://", {}
else:
    backend = os.environ["TCHU_TEST_REDIS_URL"]
    backend_options = {"result_backend_transport_options": {"global_keyprefix": PREFIX}}

app = new_app(SERVICE, BROKER, backend=backend, broker_connection_retry_on_startup=True, **backend_options)

if os.environ.get("TCHU_TEST_SETUP", "one-call") == "manual":
    exchange = Exchange("tchu_events", type="topic", durable=True)
    patterns = os.environ["TCHU_TEST_PATTERNS"].split(",")
    app.conf.task_queues = (
        Queue(
            f"{SERVICE}_queue",
            exchange=exchange,
            bindings=[binding(exchange, routing_key=p) for p in patterns],
            durable=True,
        ),
    )
    app.conf.task_routes = {"tchu_tchu.dispatch_event": {"queue": f"{SERVICE}_queue"}}
    importlib.import_module(HANDLERS)
    dispatcher = create_topic_dispatcher(app)
else:
    guard = None
    if os.environ.get("TCHU_TEST_IDEMPOTENCY"):
        guard = RedisIdempotency(os.environ["TCHU_TEST_REDIS_URL"], prefix=PREFIX + "done:")
    keys = os.environ.get("TCHU_TEST_SIGNING_KEYS")
    signer = Signer(dict(pair.split("=", 1) for pair in keys.split(","))) if keys else None
    service = setup_service(
        app,
        SERVICE,
        handlers=[HANDLERS],
        queue_type=os.environ.get("TCHU_TEST_QUEUE_TYPE", "classic"),
        idempotency=guard,
        signer=signer,
    )
