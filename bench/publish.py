"""Publishing throughput and bytes on the wire, tchu beside the raw kombu floor and plain Celery, in one run.

    python -m bench.publish [--quick] [--events N]

Needs RabbitMQ on 127.0.0.1:5672 with the management API (``scripts/services.sh`` starts both). Everything goes
to a virtual host of its own, deleted at the end. Each figure is the median of several rounds; ratios are to the
raw kombu floor measured in the same run, with the implementations' rounds interleaved, so a noisy machine moves
all of them alike. Prints a table, then one JSON line.
``python -m bench`` runs these measurements too, beside tchu-tchu 2.2.3 and the worker figures.

Bytes on the wire are those of one message as the broker delivers it, taken off a queue of the benchmark's:
the body plus the encoded AMQP properties (headers included); framing, the same for all, is left out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from celery import Celery
from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from kombu.messaging import Producer

from bench.payload import KEY, PAYLOAD, SCHEMA
from tchu import TchuClient
from tchu._celery import new_app
from tchu._management import ManagementAPI
from tchu.catalog import Catalog

__all__ = ["KEY", "PAYLOAD", "SCHEMA", "main"]

HOST = "127.0.0.1:5672"
SINK = "bench_queue"  # bound to every user.* event, so each publish is routed and stored
EXCHANGE = Exchange("tchu_events", type="topic", durable=True)
BODY = json.dumps(PAYLOAD).encode()
SETTLE_PAUSE = 0.02  # seconds between purges while the broker catches up
SETTLE_LIMIT = 10.0
Round = Callable[[int], float]  # publishes n events, returns the events per second it took
Rates = dict[str, float]


def interleaved(publishers: dict[str, Round], events: int, rounds: int, between: Callable[[], object]) -> Rates:
    """Median events/s of each publisher, their rounds interleaved (the order rotating) so noise hits all alike.

    ``between()`` runs after every round (it empties the queue the events went to).
    """
    rates: dict[str, list[float]] = {name: [] for name in publishers}
    names = list(publishers)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            rates[name].append(publishers[name](events))
            between()
    return {name: statistics.median(values) for name, values in rates.items()}


def timed(publish: Callable[[int], object]) -> Round:
    """A round that times ``publish(n)``."""

    def round_(n: int) -> float:
        start = time.perf_counter()
        publish(n)
        return n / (time.perf_counter() - start)

    return round_


def declare_sink(url: str) -> None:
    with Connection(url) as conn:
        channel = conn.channel()
        Queue(SINK, EXCHANGE, routing_key="user.#", durable=True)(channel).declare()
        channel.close()


def purge(url: str) -> None:
    """Empty the sink queue, and wait until the broker has taken in every event already sent.

    Events published without confirms may still be on their way; the broker is caught up once a purge finds
    nothing a moment after the last one. So each round starts against an idle broker, whatever came before it.
    """
    with Connection(url) as conn:
        channel = conn.channel()
        deadline = time.monotonic() + SETTLE_LIMIT
        while channel.queue_purge(SINK) and time.monotonic() < deadline:
            time.sleep(SETTLE_PAUSE)
        channel.close()


@contextmanager
def raw(url: str, *, confirm: bool) -> Iterator[Round]:
    """kombu's ``Producer.publish`` of the JSON body, persistent, with or without a confirm per message."""
    options = {"confirm_publish": True} if confirm else {}
    with Connection(url, transport_options=options) as conn:
        producer = Producer(conn.channel(), exchange=EXCHANGE, auto_declare=True)

        def publish(n: int) -> None:
            for _ in range(n):
                producer.publish(BODY, routing_key=KEY, content_type="application/json", delivery_mode=2)

        yield timed(publish)


@contextmanager
def raw_pipelined(url: str) -> Iterator[Round]:
    """The same messages on a fresh confirm channel, all published before one wait for every confirm."""
    with Connection(url) as conn:

        def publish(n: int) -> None:
            channel = conn.channel()
            channel.confirm_select()
            acked: dict[str, Any] = {"upto": 0, "singles": set()}

            def on_ack(tag: int, multiple: bool) -> None:
                if multiple:
                    acked["upto"] = max(acked["upto"], tag)
                    acked["singles"] = {t for t in acked["singles"] if t > tag}
                else:
                    acked["singles"].add(tag)

            channel.events["basic_ack"].add(on_ack)
            producer = Producer(channel, exchange=EXCHANGE, auto_declare=True)
            for _ in range(n):
                producer.publish(BODY, routing_key=KEY, content_type="application/json", delivery_mode=2)
            while acked["upto"] + len(acked["singles"]) < n:
                conn.drain_events(timeout=30)
            channel.close()

        yield timed(publish)


def bench_catalog() -> Catalog:
    catalog = Catalog()
    catalog.register(SCHEMA)
    return catalog


@contextmanager
def tchu(url: str, *, confirm: bool) -> Iterator[Round]:
    """``TchuClient.publish``: validated, with or without a confirm per event."""
    app = new_app("bench", url)
    client = TchuClient(app, confirm=confirm, catalog=bench_catalog(), unroutable="ignore")

    def publish(n: int) -> None:
        for _ in range(n):
            client.publish(KEY, PAYLOAD)

    try:
        yield timed(publish)
    finally:
        client.close()
        app.close()


@contextmanager
def tchu_batch(url: str) -> Iterator[Round]:
    """``TchuClient.publish_many``: every event validated, pipelined, one wait for all the confirms."""
    app = new_app("bench", url)
    client = TchuClient(app, catalog=bench_catalog(), unroutable="ignore")
    try:
        yield timed(lambda n: client.publish_many((KEY, PAYLOAD) for _ in range(n)))
    finally:
        client.close()
        app.close()


@contextmanager
def celery(url: str, *, confirm: bool) -> Iterator[Round]:
    """Plain Celery ``send_task`` of the payload to the same exchange and key (``confirm_publish`` for confirms)."""
    app = Celery("bench", broker=url)
    if confirm:
        app.conf.broker_transport_options = {"confirm_publish": True}
    app.conf.task_routes = {"bench.task": {"exchange": "tchu_events", "routing_key": KEY}}

    def publish(n: int) -> None:
        for _ in range(n):
            app.send_task("bench.task", args=[PAYLOAD], ignore_result=True)

    try:
        yield timed(publish)
    finally:
        app.close()


def tapped_bytes(url: str, exchange: str, key: str, publish: Callable[[], object]) -> float:
    """Body plus encoded AMQP properties of the one message ``publish()`` sends to ``exchange`` with ``key``."""
    tap = f"bench_tap_{uuid.uuid4().hex[:8]}"
    with Connection(url) as conn:
        channel = conn.channel()
        Queue(tap, Exchange(exchange, type="topic", durable=True), routing_key=key, durable=True)(channel).declare()
        try:
            publish()
            deadline = time.monotonic() + 30
            while (message := channel.basic_get(tap, no_ack=True)) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nothing reached the tap queue for {key!r} on {exchange!r}")
                time.sleep(0.01)
            return float(len(message.body) + len(message._serialize_properties()))  # noqa: SLF001 -- py-amqp's encoder
        finally:
            channel.queue_delete(tap)
            channel.close()


def format_floor_message() -> tuple[bytes, dict[str, str]]:
    """The least a message in tchu-tchu 2.2.3's wire format can be: a Celery protocol 2 task message whose only
    headers are the two a worker needs (``task`` and ``id``), the payload as a JSON string argument, the routing
    key as the one keyword argument, an empty embed."""
    args = json.dumps(PAYLOAD, separators=(",", ":"))
    body = json.dumps([[args], {"routing_key": KEY}, {}], separators=(",", ":")).encode()
    return body, {"task": "tchu_tchu.dispatch_event", "id": str(uuid.uuid4())}


def wire_bytes(url: str) -> dict[str, float]:
    """Bytes on the wire of the payload sent by raw kombu, plain Celery and tchu, and the wire format's floor."""
    out: dict[str, float] = {}

    def raw() -> None:
        with Connection(url) as conn:
            producer = Producer(conn.channel(), exchange=EXCHANGE, auto_declare=True)
            producer.publish(BODY, routing_key=KEY, content_type="application/json", delivery_mode=2)

    def format_floor() -> None:
        body, headers = format_floor_message()
        with Connection(url) as conn:
            producer = Producer(conn.channel(), exchange=EXCHANGE, auto_declare=True)
            producer.publish(
                body, routing_key=KEY, headers=headers, content_type="application/json", content_encoding="utf-8"
            )

    out["raw kombu"] = tapped_bytes(url, "tchu_events", KEY, raw)
    out["wire format floor"] = tapped_bytes(url, "tchu_events", KEY, format_floor)
    plain = Celery("bench", broker=url)
    plain.conf.task_routes = {"bench.task": {"exchange": "tchu_events", "routing_key": KEY}}
    out["celery send_task"] = tapped_bytes(
        url, "tchu_events", KEY, lambda: plain.send_task("bench.task", args=[PAYLOAD], ignore_result=True)
    )
    plain.close()
    app = new_app("bench", url)
    client = TchuClient(app, catalog=bench_catalog(), unroutable="ignore")
    out["tchu publish"] = tapped_bytes(url, "tchu_events", KEY, lambda: client.publish(KEY, PAYLOAD))
    client.close()
    app.close()
    return out


def measure(url: str, events: int, rounds: int) -> dict[str, dict[str, float]]:
    """The figures of this module's table: publish rates without and with confirms, and wire bytes."""
    declare_sink(url)
    results: dict[str, dict[str, float]] = {}
    with ExitStack() as stack:
        publishers = {
            "raw kombu": stack.enter_context(raw(url, confirm=False)),
            "tchu publish": stack.enter_context(tchu(url, confirm=False)),
            # a tchu batch (every confirm waited for, once) beside the floor that waits for none
            "tchu batch, confirmed": stack.enter_context(tchu_batch(url)),
            "celery send_task": stack.enter_context(celery(url, confirm=False)),
        }
        results["publish_no_confirm"] = interleaved(publishers, events, rounds, lambda: purge(url))
    with ExitStack() as stack:
        publishers = {
            "raw kombu": stack.enter_context(raw(url, confirm=True)),
            "tchu publish": stack.enter_context(tchu(url, confirm=True)),
        }
        results["publish_confirm"] = interleaved(publishers, events, rounds, lambda: purge(url))
    wire = wire_bytes(url)
    results["wire_bytes"] = {
        "raw kombu": wire["raw kombu"],
        "wire format floor": wire["wire format floor"],
        "tchu (body + headers)": wire["tchu publish"],
    }
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
        results = measure(url, events, rounds)
    finally:
        api.delete_vhost(vhost)

    floors = {figure: rows["raw kombu"] for figure, rows in results.items()}
    print(f"{'figure':28} {'implementation':24} {'value':>12} {'x floor':>8}")
    for figure, rows in results.items():
        for name, value in rows.items():
            print(f"{figure:28} {name:24} {value:12.0f} {value / floors[figure]:8.2f}")
    print(json.dumps({"figure": "publish", "events_per_round": events, "rounds": rounds, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
