"""An unmodified tchu-tchu 2.2.3 service, configured as that release's README shows (manual set-up).

It runs only in the tchu-tchu 2.2.3 virtualenv (see :mod:`bench.legacy`), with only ``bench/workers`` on its
path, as a real ``python -m celery -A legacy_svc worker``. Its queue ``<BENCH_NAME>_queue`` is bound to
``tchu_events`` with every key of ``BENCH_KEYS``. With ``BENCH_RPC`` the app gets the Redis result backend,
which tchu-tchu's ``client.call`` needs (and then, as in 2.2.3, every dispatched event stores a result).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import recording  # type: ignore[import-not-found]  # bench/workers is the whole path of this process
from celery import Celery, signals
from kombu.entity import Exchange, Queue, binding
from tchu_tchu import create_topic_dispatcher, subscribe  # type: ignore[import-not-found]

if importlib.util.find_spec("tchu") is not None:  # the point of this service is that tchu is absent
    raise RuntimeError("tchu is importable in the tchu-tchu 2.2.3 service; PYTHONPATH/cwd leak the repository")

NAME = os.environ["BENCH_NAME"]
KEYS = [key for key in os.environ.get("BENCH_KEYS", "").split(",") if key]
RPC = bool(os.environ.get("BENCH_RPC"))

app = Celery(NAME, broker=os.environ["BENCH_BROKER_URL"], backend=os.environ["BENCH_REDIS_URL"] if RPC else None)
if RPC:
    app.conf.result_backend_transport_options = {"global_keyprefix": os.environ["BENCH_REDIS_PREFIX"]}

# ===== Configure Celery queues and exchange (the README's "Multiple Routing Keys") =====
tchu_exchange = Exchange("tchu_events", type="topic", durable=True)
app.conf.task_queues = (
    Queue(
        f"{NAME}_queue",
        exchange=tchu_exchange,
        bindings=[binding(tchu_exchange, routing_key=key) for key in KEYS],
        durable=True,
    ),
)
app.conf.task_routes = {"tchu_tchu.dispatch_event": {"queue": f"{NAME}_queue"}}
dispatcher = create_topic_dispatcher(app)


@subscribe("user.created")
def count(_event: Any) -> None:
    recording.mark(NAME)


@subscribe("bench.latency")
def latency(event: Any) -> None:
    recording.latency(NAME, event["sent_at"])


@subscribe("bench.rpc")
def validate_user(_request: Any) -> dict[str, Any]:
    recording.executed(NAME)
    return {"valid": True}


@signals.worker_ready.connect(weak=False)
def _ready(**_: Any) -> None:
    recording.ready(NAME)
