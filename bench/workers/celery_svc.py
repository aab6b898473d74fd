"""A plain Celery service, the comparison for tchu's workers: ``@app.task`` functions, no tchu at all.

    python -m celery -A bench.workers.celery_svc worker --pool=solo --concurrency=1

Events reach it as Celery tasks published to the topic exchange ``bench_celery`` (one queue per service, so
one event reaches every bound service, as with tchu); RPC calls are ``send_task`` on the queue
``bench_celery_rpc`` with the result read from Redis. Event tasks ignore their result, as a fire-and-forget
event task would; the RPC task stores its return value.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals
from kombu.entity import Exchange, Queue, binding

from bench.payload import RPC_REPLY
from bench.workers import recording

EXCHANGE = "bench_celery"
RPC_QUEUE = "bench_celery_rpc"
NAME = os.environ["BENCH_NAME"]
KEYS = [key for key in os.environ.get("BENCH_KEYS", "").split(",") if key]

app = Celery(
    NAME,
    broker=os.environ["BENCH_BROKER_URL"],
    backend=os.environ["BENCH_REDIS_URL"],
)
app.conf.result_backend_transport_options = {"global_keyprefix": os.environ["BENCH_REDIS_PREFIX"]}
app.conf.broker_connection_retry_on_startup = True
exchange = Exchange(EXCHANGE, type="topic", durable=True)
queues = [Queue(f"{NAME}_queue", exchange, bindings=[binding(exchange, routing_key=k) for k in KEYS], durable=True)]
if os.environ.get("BENCH_RPC"):
    queues.append(Queue(RPC_QUEUE, Exchange(RPC_QUEUE, type="direct"), routing_key=RPC_QUEUE))
app.conf.task_queues = queues


@app.task(name="bench.count", ignore_result=True)
def count(_payload: Any) -> None:
    recording.mark(NAME)


@app.task(name="bench.latency", ignore_result=True)
def latency(payload: Any) -> None:
    recording.latency(NAME, payload["sent_at"])


@app.task(name="bench.rpc")
def validate_user(_request: Any) -> dict[str, Any]:
    recording.executed(NAME)
    return RPC_REPLY


@signals.worker_ready.connect(weak=False)
def _ready(**_: Any) -> None:
    recording.ready(NAME)
