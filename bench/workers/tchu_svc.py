"""A tchu service for the benchmarks, set up in one call as the README shows; run as a real worker:

    python -m celery -A bench.workers.tchu_svc worker --pool=solo --concurrency=1

Its handlers (on a router of its own) subscribe to the keys in ``BENCH_KEYS``; with ``BENCH_RPC`` it also
responds to ``bench.rpc``. Payloads are validated at delivery against the benchmark catalog, as in production.
"""

from __future__ import annotations

import os
from typing import Any

from celery import signals

from bench.payload import KEY, LATENCY_KEY, RPC_KEY, RPC_REPLY, catalog
from bench.workers import recording
from tchu import Router, setup_service
from tchu._celery import new_app

NAME = os.environ["BENCH_NAME"]
KEYS = [key for key in os.environ.get("BENCH_KEYS", "").split(",") if key]

app = new_app(
    NAME,
    os.environ["BENCH_BROKER_URL"],
    backend=os.environ["BENCH_REDIS_URL"],
    result_backend_transport_options={"global_keyprefix": os.environ["BENCH_REDIS_PREFIX"]},
    broker_connection_retry_on_startup=True,
)
router = Router()


def count(_event: Any) -> None:
    recording.mark(NAME)


def latency(event: Any) -> None:
    recording.latency(NAME, event["sent_at"])


def validate_user(_request: Any) -> dict[str, Any]:
    recording.executed(NAME)
    return RPC_REPLY


if KEY in KEYS:
    router.add(KEY, count)
if LATENCY_KEY in KEYS:
    router.add(LATENCY_KEY, latency)
if os.environ.get("BENCH_RPC"):
    router.respond(RPC_KEY)(validate_user)

service = setup_service(app, NAME, router=router, catalog=catalog())


@signals.worker_ready.connect(weak=False)
def _ready(**_: Any) -> None:
    recording.ready(NAME)
