"""An unmodified tchu-tchu 2.2.3 service, configured exactly as that release's README shows (manual set-up).

It runs only in the legacy virtualenv (tchu-tchu 2.2.3 and redis, no tchu) as a real
``python -m celery -A legacy_svc worker``; tests/test_compat_tchu_tchu.py starts it.

TCHU_TEST_SERVICE       service name; its queue is ``<name>_queue``
LEGACY_PATTERNS         comma-separated binding keys: one is bound with ``routing_key=`` (the README's
                        Quick Start), several with ``bindings=[binding(...)]`` ("Multiple Routing Keys")
TCHU_TEST_BROKER_URL    the test's vhost
TCHU_TEST_REDIS_URL     where the handlers record what they received: one JSON entry per handler call,
TCHU_TEST_REDIS_PREFIX  appended to ``<prefix>seen`` (the same list tchu's test handlers use)
"""

from __future__ import annotations

import importlib.util
import json
import os
import time

import redis
from celery import Celery, current_task
from kombu import Exchange, Queue, binding
from tchu_tchu import create_topic_dispatcher, subscribe

if importlib.util.find_spec("tchu") is not None:  # the point of this service is that tchu is absent
    raise RuntimeError("tchu is importable in the tchu-tchu 2.2.3 service; PYTHONPATH/cwd leak the repository")

SERVICE = os.environ["TCHU_TEST_SERVICE"]
PATTERNS = os.environ.get("LEGACY_PATTERNS", "user.*").split(",")

app = Celery(SERVICE, broker=os.environ["TCHU_TEST_BROKER_URL"])

# ===== Configure Celery queues and exchange (the README's manual configuration) =====
tchu_exchange = Exchange("tchu_events", type="topic", durable=True)

if len(PATTERNS) == 1:
    queue = Queue(
        f"{SERVICE}_queue",
        exchange=tchu_exchange,
        routing_key=PATTERNS[0],
        durable=True,
        auto_delete=False,
    )
else:
    queue = Queue(
        f"{SERVICE}_queue",
        exchange=tchu_exchange,
        bindings=[binding(tchu_exchange, routing_key=pattern) for pattern in PATTERNS],
        durable=True,
    )
app.conf.task_queues = (queue,)

app.conf.task_routes = {
    "tchu_tchu.dispatch_event": {"queue": f"{SERVICE}_queue"},
}

dispatcher = create_topic_dispatcher(app)

_client: redis.Redis | None = None


def _record(handler: str, event: object) -> None:
    global _client  # noqa: PLW0603 -- one connection per worker process
    if _client is None:
        _client = redis.Redis.from_url(os.environ["TCHU_TEST_REDIS_URL"])
    request = current_task.request  # the 2.2.3 dispatcher task that called the handler
    entry = {
        "service": SERVICE,
        "handler": handler,
        "routing_key": (request.kwargs or {}).get("routing_key"),
        "delivery_routing_key": (request.delivery_info or {}).get("routing_key"),
        "payload": event,
        "payload_type": type(event).__name__,
        "event_id": request.id,
        "pid": os.getpid(),
        "at": time.time(),
    }
    _client.rpush(os.environ["TCHU_TEST_REDIS_PREFIX"] + "seen", json.dumps(entry))


# ===== Subscribe to events (the README's subscribers module) =====
@subscribe("user.created")
def legacy_user_created(event_data):
    _record("legacy_user_created", event_data)


@subscribe("user.*")  # Wildcard pattern
def legacy_user_event(event_data):
    _record("legacy_user_event", event_data)
