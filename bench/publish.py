"""Publishing throughput and bytes on the wire, tchu beside the raw kombu floor and plain Celery, in one run.

    python -m bench.publish [--quick] [--events N]

Needs RabbitMQ on 127.0.0.1:5672 with the management API (``scripts/services.sh`` starts both). Everything goes
to a virtual host of its own, deleted at the end. Each figure is the median of several rounds; ratios are to the
raw kombu floor measured in the same run, so a noisy machine moves both. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from kombu.messaging import Producer

from tchu import TchuClient
from tchu._celery import new_app
from tchu._management import ManagementAPI
from tchu.catalog import Catalog, EventSchema
from tchu.envelope import Envelope

HOST = "127.0.0.1:5672"
KEY = "user.created"
# a 254-byte JSON payload, as in the figures this bench reports against
PAYLOAD = {
    "user_id": 123456,
    "email": "ada.lovelace@example.com",
    "name": "Ada Lovelace",
    "plan": "enterprise",
    "referrer_id": 98765,
    "created_at": "2026-01-05T09:30:00+00:00",
    "tags": ["early", "admin", "beta"],
    "note": "a note long enough to bring the payload to the size the figures use",
}


# the payload's schema, formats included: tchu's figures are with validation at publish
SCHEMA = EventSchema(
    KEY,
    {
        "type": "object",
        "required": ["user_id", "email", "name"],
        "additionalProperties": False,
        "properties": {
            "user_id": {"type": "integer", "minimum": 1},
            "email": {"type": "string", "format": "email"},
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "plan": {"enum": ["free", "pro", "enterprise"]},
            "referrer_id": {"type": ["integer", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "note": {"type": "string"},
        },
    },
)


def _rate(fn: Callable[[int], None], events: int, rounds: int) -> float:
    """Median events per second of ``fn(events)`` over ``rounds``."""
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn(events)
        rates.append(events / (time.perf_counter() - start))
    return statistics.median(rates)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few hundred events per round (seconds)")
    parser.add_argument("--events", type=int, help="events per round")
    args = parser.parse_args(argv)
    events = args.events or (300 if args.quick else 3000)
    rounds = 3 if args.quick else 5

    api = ManagementAPI.for_broker(f"amqp://guest:guest@{HOST}//")
    vhost = f"tchu-bench-{uuid.uuid4().hex[:8]}"
    api.create_vhost(vhost)
    url = f"amqp://guest:guest@{HOST}/{vhost}"
    try:
        results = _measure(url, events, rounds)
    finally:
        api.delete_vhost(vhost)

    floor = results["publish_no_confirm"]["raw kombu"]
    confirm_floor = results["publish_confirm"]["raw kombu"]
    wire_floor = results["wire_bytes"]["raw kombu"]
    print(f"{'figure':28} {'implementation':24} {'value':>12} {'x floor':>8}")
    for figure, rows in results.items():
        base = {"publish_no_confirm": floor, "publish_confirm": confirm_floor, "wire_bytes": wire_floor}[figure]
        for name, value in rows.items():
            print(f"{figure:28} {name:24} {value:12.0f} {value / base:8.2f}")
    print(json.dumps({"figure": "publish", "events_per_round": events, "rounds": rounds, "results": results}))
    return 0


def _measure(url: str, events: int, rounds: int) -> dict[str, dict[str, float]]:
    exchange = Exchange("tchu_events", type="topic", durable=True)
    body = json.dumps(PAYLOAD).encode()
    results: dict[str, dict[str, float]] = {"publish_no_confirm": {}, "publish_confirm": {}, "wire_bytes": {}}
    with Connection(url) as conn:  # a bound queue, so every event is routed and stored
        channel = conn.channel()
        Queue("bench_queue", exchange, routing_key="user.#", durable=True)(channel).declare()
        channel.close()

    for confirm, figure in ((False, "publish_no_confirm"), (True, "publish_confirm")):
        options = {"confirm_publish": True} if confirm else {}
        with Connection(url, transport_options=options) as conn:
            producer = Producer(conn.channel(), exchange=exchange, auto_declare=True)

            def raw(n: int, producer: Any = producer) -> None:
                for _ in range(n):
                    producer.publish(body, routing_key=KEY, content_type="application/json", delivery_mode=2)

            results[figure]["raw kombu"] = _rate(raw, events, rounds)

        app = new_app("bench", url)
        catalog = Catalog()
        catalog.register(SCHEMA)
        client = TchuClient(app, confirm=confirm, catalog=catalog, unroutable="ignore")

        def tchu(n: int, client: TchuClient = client) -> None:
            for _ in range(n):
                client.publish(KEY, PAYLOAD)

        results[figure]["tchu publish"] = _rate(tchu, events, rounds)
        client.close()
        if not confirm:
            results[figure].update(_unconfirmed_peers(app, catalog, events, rounds))
        app.close()
        _purge(url)

    msg = Envelope.new(KEY, PAYLOAD).task_message(origin="1@host")
    results["wire_bytes"]["raw kombu"] = float(len(body))
    headers = json.dumps(msg.headers).encode()
    results["wire_bytes"]["tchu (body + headers)"] = float(len(msg.body) + len(headers))
    return results


def _unconfirmed_peers(app: Any, catalog: Catalog, events: int, rounds: int) -> dict[str, float]:
    """A tchu batch (every confirm waited for, once) and plain Celery, beside the floor that waits for none."""
    out = {}
    batching = TchuClient(app, catalog=catalog, unroutable="ignore")

    def batch(n: int) -> None:
        batching.publish_many((KEY, PAYLOAD) for _ in range(n))

    out["tchu batch, confirmed"] = _rate(batch, events, rounds)
    batching.close()
    app.conf.task_routes = {"bench.task": {"exchange": "tchu_events", "routing_key": KEY}}

    def celery(n: int) -> None:
        for _ in range(n):
            app.send_task("bench.task", args=[PAYLOAD], ignore_result=True)

    out["celery send_task"] = _rate(celery, events, rounds)
    return out


def _purge(url: str) -> None:
    with Connection(url) as conn:
        channel = conn.channel()
        channel.queue_purge("bench_queue")
        channel.close()


if __name__ == "__main__":
    sys.exit(main())
