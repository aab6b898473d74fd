"""Publish and call with an unmodified tchu-tchu 2.2.3, on commands from ``python -m bench``.

Runs only in the tchu-tchu 2.2.3 virtualenv, as ``<venv>/bin/python legacy_driver.py``. Each line on stdin is a
JSON command; each answer is one JSON line on stdout. Publishing goes through tchu-tchu's ``TchuClient`` on a
Celery app configured as its README shows; ``confirm`` commands use a second app with Celery's
``confirm_publish`` transport option. tchu-tchu logs every publish at INFO on stderr (its own handler), which
the benchmark sends to a file, as a deployment would.

    {"op": "rate", "key": K, "payload": P, "events": N, "rounds": R, "confirm": bool} -> {"rate": events/s}
    {"op": "fill", "key": K, "payload": P, "events": N}                        -> {"sent": N}
    {"op": "paced", "key": K, "payload": P, "events": N, "per_second": F}      -> {"sent": N}
    {"op": "call", "key": K, "payload": P, "calls": N, "timeout": S}           -> {"ms": [...], "replies": [...]}

``paced`` adds ``sent_at`` (``time.time()`` right before each publish call) to the payload.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import statistics
import sys
import time
from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue
from tchu_tchu import TchuClient  # type: ignore[import-not-found]

if importlib.util.find_spec("tchu") is not None:  # the comparison is with tchu-tchu alone
    raise RuntimeError("tchu is importable in the tchu-tchu 2.2.3 driver; PYTHONPATH/cwd leak the repository")


def _app(name: str, *, confirm: bool) -> Any:
    app = Celery(name, broker=os.environ["BENCH_BROKER_URL"], backend=os.environ["BENCH_REDIS_URL"])
    app.conf.result_backend_transport_options = {"global_keyprefix": os.environ["BENCH_REDIS_PREFIX"]}
    if confirm:
        app.conf.broker_transport_options = {"confirm_publish": True}
    # The README's configuration: tchu-tchu's producer calls send_task(..., routing_key=<key>), and the exchange
    # comes from the queue that task_routes names, so a publisher needs it too.
    tchu_exchange = Exchange("tchu_events", type="topic", durable=True)
    app.conf.task_queues = (
        Queue(
            "bench_legacy_publisher_queue",
            exchange=tchu_exchange,
            routing_key="bench_legacy_publisher.#",  # its own subscriptions; no benchmark event matches
            durable=True,
            auto_delete=False,
        ),
    )
    app.conf.task_routes = {"tchu_tchu.dispatch_event": {"queue": "bench_legacy_publisher_queue"}}
    return app


CLIENTS = {
    False: TchuClient(celery_app=_app("bench_legacy_publisher", confirm=False)),
    True: TchuClient(celery_app=_app("bench_legacy_publisher_confirmed", confirm=True)),
}


def rate(command: dict[str, Any]) -> dict[str, Any]:
    client = CLIENTS[bool(command.get("confirm"))]
    key, payload, events = command["key"], command["payload"], command["events"]
    rates = []
    for _ in range(command["rounds"]):
        start = time.perf_counter()
        for _ in range(events):
            client.publish(key, payload)
        rates.append(events / (time.perf_counter() - start))
    return {"rate": statistics.median(rates)}


def fill(command: dict[str, Any]) -> dict[str, Any]:
    for _ in range(command["events"]):
        CLIENTS[False].publish(command["key"], command["payload"])
    return {"sent": command["events"]}


def paced(command: dict[str, Any]) -> dict[str, Any]:
    client = CLIENTS[False]
    interval = 1.0 / command["per_second"]
    start = time.perf_counter()
    for i in range(command["events"]):
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        client.publish(command["key"], {**command["payload"], "sent_at": time.time()})
    return {"sent": command["events"]}


def call(command: dict[str, Any]) -> dict[str, Any]:
    client = CLIENTS[False]
    durations, replies = [], []
    for _ in range(command["calls"]):
        start = time.perf_counter()
        reply = client.call(command["key"], command["payload"], timeout=command["timeout"])
        durations.append((time.perf_counter() - start) * 1000)
        replies.append(reply)
    return {"ms": durations, "replies": replies}


OPS = {"rate": rate, "fill": fill, "paced": paced, "call": call}


def main() -> None:
    print(json.dumps({"ready": importlib.metadata.version("tchu-tchu")}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        print(json.dumps(OPS[command["op"]](command)), flush=True)


if __name__ == "__main__":
    main()
