"""The raw kombu floor of the worker figures: one process consuming with a kombu ``Consumer``, nothing else.

    python -m bench.workers.kombu_svc

It binds ``<BENCH_NAME>_queue`` to the topic exchange ``bench_raw`` with ``BENCH_KEYS``, takes messages with
Celery's default prefetch for one process (4), decodes the JSON body, records what the other implementations'
handlers record and acknowledges after handling. With ``BENCH_RPC`` it also answers requests on
``bench_raw_rpc`` by publishing the reply to the request's ``reply_to`` queue with its ``correlation_id``.
Stopped with SIGTERM.
"""

from __future__ import annotations

import os
from typing import Any

from kombu.connection import Connection
from kombu.entity import Exchange, Queue, binding
from kombu.messaging import Consumer, Producer

from bench.payload import KEY, LATENCY_KEY, RPC_REPLY
from bench.workers import recording

EXCHANGE = "bench_raw"
RPC_QUEUE = "bench_raw_rpc"
PREFETCH = 4  # Celery's default for one process: worker_prefetch_multiplier (4) x concurrency (1)


def main() -> None:
    name = os.environ["BENCH_NAME"]
    keys = [key for key in os.environ.get("BENCH_KEYS", "").split(",") if key]
    exchange = Exchange(EXCHANGE, type="topic", durable=True)
    queues = [Queue(f"{name}_queue", exchange, bindings=[binding(exchange, routing_key=k) for k in keys], durable=True)]
    if os.environ.get("BENCH_RPC"):
        queues.append(Queue(RPC_QUEUE, exchange=Exchange(""), routing_key=RPC_QUEUE, durable=True))
    with Connection(os.environ["BENCH_BROKER_URL"]) as conn:
        channel = conn.channel()
        producer = Producer(channel, auto_declare=False)

        def on_message(body: Any, message: Any) -> None:
            key = message.delivery_info["routing_key"]
            if key == KEY:
                recording.mark(name)
            elif key == LATENCY_KEY:
                recording.latency(name, body["sent_at"])
            elif key == RPC_QUEUE:
                recording.executed(name)
                producer.publish(
                    RPC_REPLY,
                    exchange="",
                    routing_key=message.properties["reply_to"],
                    correlation_id=message.properties["correlation_id"],
                    serializer="json",
                )
            message.ack()

        consumer = Consumer(channel, queues, callbacks=[on_message], accept=["json"], prefetch_count=PREFETCH)
        consumer.consume()
        recording.ready(name)
        while True:
            conn.drain_events()


if __name__ == "__main__":
    main()
