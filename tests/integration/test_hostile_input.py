"""Hostile input reaching a real worker: a pickled task message, and a service with thousands of bindings."""

from __future__ import annotations

import os
import pickle
import time
import uuid

import pytest
from helpers import queue_depth, seen, tally, wait_seen

pytestmark = pytest.mark.integration

PICKLE = "application/x-python-serialize"
BULK = 2000


class _CreatesFile:
    """Unpickling an instance opens (creates) ``path``: the class is not needed to unpickle it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _pickled_task_body(marker) -> bytes:
    """A Celery protocol-2 body ``(args, kwargs, embed)`` whose only argument creates ``marker`` when unpickled."""
    args = (_CreatesFile(str(marker)),)
    return pickle.dumps((args, {"routing_key": "user.deleted"}, {"callbacks": None, "errbacks": None}))


def _publish_raw(broker, routing_key: str, body: bytes, content_type: str, headers: dict) -> None:
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


def test_a_pickled_message_is_never_unpickled_and_the_worker_keeps_going(broker, start_worker, client, tmp_path):
    """A Celery-shaped task message with a pickle body reaches the users service queue (bound to user.deleted).

    Unpickling the body would create ``marker`` (the test first unpickles a copy aimed at a probe file to show
    it does): it is never created. The worker stays up and handles the next event. Observed: Celery refuses the
    content type before tchu's dispatcher sees the message (tchu's apps accept JSON only) and logs at ERROR
    ``Received invalid task message: Refusing to deserialize untrusted content of type pickle
    (application/x-python-serialize)`` followed by ``The message has been ignored and discarded.`` and a
    traceback. Celery rejects it without requeue (the queue's management stats count two deliveries, one ack,
    no redelivery); the service queue has no dead-letter exchange, so the message is dropped: it is neither left
    on ``users_queue`` nor copied to ``users_queue.dlq``. The log line is the only trace of it.
    """
    probe = tmp_path / "probe.marker"
    (opened,), _, _ = pickle.loads(_pickled_task_body(probe))  # noqa: S301 -- proves the payload is live
    opened.close()
    assert probe.exists()
    marker = tmp_path / "unpickled.marker"
    body = _pickled_task_body(marker)

    worker = start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "users"})
    headers = {
        "task": "tchu_tchu.dispatch_event",
        "id": str(uuid.uuid4()),
        "lang": "py",
        "argsrepr": "",
        "kwargsrepr": "",
    }
    _publish_raw(broker, "user.deleted", body, PICKLE, headers)
    worker.wait_for("Refusing to deserialize untrusted content of type pickle", timeout=20)

    event_id = client.publish("user.deleted", {"user_id": 42})
    records = wait_seen(broker, 1, settle=1.0)
    assert tally(records) == {("users", "cleanup_user_data", "user.deleted"): 1}
    assert records[0]["event_id"] == event_id
    assert records[0]["payload"] == {"user_id": 42}

    assert not marker.exists()
    assert worker.proc.poll() is None  # still running
    out = worker.output()
    refused = [line for line in out.splitlines() if "Received invalid task message" in line]
    assert len(refused) == 1, refused
    assert "ERROR/MainProcess" in refused[0]
    assert f"Refusing to deserialize untrusted content of type pickle ({PICKLE})" in refused[0]
    assert "The message has been ignored and discarded." in out
    assert "undecodable event" not in out  # never reached tchu's dispatcher
    assert queue_depth(broker, "users_queue") == 0  # not requeued
    assert queue_depth(broker, "users_queue.dlq") == 0  # not dead-lettered either

    stats = _queue_stats_once(broker, "users_queue", delivered=2)
    assert stats.get("ack", 0) == 1, stats  # only the good event was acked: the pickle one was rejected
    assert stats.get("redeliver", 0) == 0, stats


def _queue_stats_once(broker, queue: str, *, delivered: int, timeout: float = 20) -> dict:
    """The queue's message stats once the management API counts ``delivered`` deliveries and an ack (they lag)."""
    deadline = time.monotonic() + timeout
    stats: dict = {}
    while time.monotonic() < deadline:
        stats = broker.management.request("GET", f"/queues/{broker.vhost}/{queue}").get("message_stats") or {}
        if stats.get("deliver_get", 0) >= delivered and stats.get("ack", 0) >= 1:
            return stats
        time.sleep(0.5)
    raise AssertionError(f"{queue}: management stats never showed {delivered} deliveries and an ack: {stats}")


def _write_bulk_handlers(folder, module: str) -> None:
    lines = [
        f'"""{BULK} handlers, one per routing key bulk.k<i>, generated by test_hostile_input."""',
        "",
        "from recorder import record",
        "",
        "from tchu import subscribe",
        "",
    ]
    for i in range(BULK):
        lines += ["", f'@subscribe("bulk.k{i}")', f"def bulk_k{i}(event):", f'    record("bulk_k{i}", event)', ""]
    folder.mkdir()
    (folder / f"{module}.py").write_text("\n".join(lines))


def test_a_service_with_two_thousand_bindings_starts_and_routes_each_key_to_its_handler(
    broker, start_worker, client, tmp_path
):
    """2,000 handlers on distinct keys, generated into a module at run time, set up with the one-call set-up.

    The worker starts, RabbitMQ reports all 2,000 bindings of ``bulk_queue`` to ``tchu_events``, and events on
    the first, second, eleventh, middle and last key each run exactly their own handler once.
    """
    module = f"handlers_bulk_{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "generated_handlers"
    _write_bulk_handlers(folder, module)
    env = {
        "TCHU_TEST_SERVICE": "bulk",
        "TCHU_TEST_HANDLERS": module,
        "PYTHONPATH": os.pathsep.join([str(folder), broker.env()["PYTHONPATH"]]),
    }
    worker = start_worker("svc", ready=False, extra_env=env)
    worker.wait_ready(timeout=45)

    bindings = broker.management.queue_bindings(broker.vhost, "bulk_queue")
    assert {b.exchange for b in bindings} == {"tchu_events"}
    patterns = [b.pattern for b in bindings]
    assert len(patterns) == BULK
    assert set(patterns) == {f"bulk.k{i}" for i in range(BULK)}

    keys = [0, 1, 10, BULK // 2, BULK - 1]
    for i in keys:
        client.publish(f"bulk.k{i}", {"i": i})
    records = wait_seen(broker, len(keys), settle=1.5)
    assert tally(records) == {("bulk", f"bulk_k{i}", f"bulk.k{i}"): 1 for i in keys}
    assert sorted(r["payload"]["i"] for r in records) == keys
    assert worker.proc.poll() is None
    assert queue_depth(broker, "bulk_queue") == 0
    assert queue_depth(broker, "bulk_queue.dlq") == 0
    assert len(seen(broker)) == len(keys)
