"""Reading what handlers in worker processes recorded, and publishing from the test process."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from typing import Any

import redis

from tchu import TchuClient
from tchu._celery import new_app


def seen(broker) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(broker.redis_url)
    try:
        return [json.loads(x) for x in client.lrange(broker.redis_prefix + "seen", 0, -1)]
    finally:
        client.close()


def wait_seen(broker, count: int, timeout: float = 20, settle: float = 0.5) -> list[dict[str, Any]]:
    """Wait until ``count`` records exist, then ``settle`` seconds more so extra deliveries would show."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = seen(broker)
        if len(records) >= count:
            time.sleep(settle)
            return seen(broker)
        time.sleep(0.05)
    records = seen(broker)
    raise AssertionError(f"expected {count} handler records within {timeout}s, got {len(records)}: {records}")


def tally(records: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    return Counter((r["service"], r["handler"], r["routing_key"]) for r in records)


def publisher_app(broker, *, backend: str = "redis"):
    if backend == "rpc":
        return new_app("publisher", broker.amqp_url, backend="rpc://")
    return new_app(
        "publisher",
        broker.amqp_url,
        backend=broker.redis_url,
        result_backend_transport_options={"global_keyprefix": broker.redis_prefix},
    )


def client_for(broker, *, backend: str = "redis") -> TchuClient:
    """A client on its own publisher app; close it (``with``) to release its connections."""
    return TchuClient(publisher_app(broker, backend=backend))


def queue_depth(broker, queue: str) -> int:
    """Messages ready in ``queue``, asked of the broker itself (the management API's counts lag)."""
    from kombu import Connection  # noqa: PLC0415

    with Connection(broker.amqp_url) as conn:
        _, count, _ = conn.default_channel.queue_declare(queue, passive=True)
    return int(count)


def get_messages(broker, queue: str) -> list[Any]:
    """Take every message from ``queue`` (py-amqp messages), with basic.get: the queue is not redeclared, so its
    arguments (length limits, quorum type) need not be repeated here."""
    from kombu import Connection  # noqa: PLC0415

    out = []
    with Connection(broker.amqp_url) as conn:
        channel = conn.default_channel
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            out.append(message)
    return out


def declare(broker, name: str, *patterns: str, **arguments) -> None:
    """A durable queue bound to ``tchu_events`` with ``patterns``, as a service of another deployment made it."""
    from kombu import Connection, Exchange, Queue  # noqa: PLC0415

    exchange = Exchange("tchu_events", type="topic", durable=True)
    with Connection(broker.amqp_url) as conn:
        channel = conn.default_channel
        exchange(channel).declare()
        queue = Queue(name, durable=True, queue_arguments=arguments or None)(channel)
        queue.declare()
        for pattern in patterns:
            queue.bind_to(exchange, routing_key=pattern)


def publish_raw(broker, routing_key: str, body: bytes, content_type: str, headers: dict) -> None:
    """Publish ``body`` as is (no serializer) to ``tchu_events``, confirmed by the broker."""
    from kombu import Connection, Exchange, Producer  # noqa: PLC0415

    exchange = Exchange("tchu_events", type="topic", durable=True)
    with Connection(broker.amqp_url, transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.default_channel, exchange=exchange)
        producer.publish(
            body,
            routing_key=routing_key,
            serializer=None,
            content_type=content_type,
            content_encoding="binary",
            headers=headers,
            delivery_mode=2,
            declare=[],
            mandatory=True,
        )


def rabbitmqctl(*args: str) -> None:
    """Run ``rabbitmqctl -q ARGS`` on the local node (for restarts: it affects every virtual host)."""
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


def wait_for_management(broker, timeout: float = 60) -> None:
    """Until the management API answers again, after a restart."""
    from tchu._management import ManagementError  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    while True:
        try:
            broker.management.request("GET", "/overview")
        except (ManagementError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        else:
            return
