"""Hostile input reaching a real worker: a pickled task message, and a service with thousands of bindings."""

from __future__ import annotations

import json
import os
import pickle
import signal
import uuid

import pytest
from helpers import declare, get_messages, publish_raw, queue_depth, seen, tally, wait_seen

from tchu._celery import new_app
from tchu._celery.dlq import dead_letters

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


def test_a_pickled_message_is_never_unpickled_and_is_dead_lettered(broker, start_worker, client, tmp_path):
    """A Celery-shaped task message with a pickle body reaches the users service queue (bound to user.deleted).

    Unpickling the body would create ``marker`` (the test first unpickles a copy aimed at a probe file to show
    it does): it is never created. Celery refuses the content type before tchu's dispatcher sees the message
    (tchu's apps accept JSON only); tchu's consumer copies the message, bytes unchanged, to ``users_queue.dlq``
    with the reason, and acks it. The worker stays up and handles the next event.
    """
    probe = tmp_path / "probe.marker"
    (opened,), _, _ = pickle.loads(_pickled_task_body(probe))  # noqa: S301 -- proves the payload is live
    opened.close()
    assert probe.exists()
    marker = tmp_path / "unpickled.marker"
    body = _pickled_task_body(marker)

    worker = start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "users"})
    task_id = str(uuid.uuid4())
    headers = {"task": "tchu_tchu.dispatch_event", "id": task_id, "lang": "py", "argsrepr": "", "kwargsrepr": ""}
    publish_raw(broker, "user.deleted", body, PICKLE, headers)
    worker.wait_for("refused message on users_queue", timeout=20)

    event_id = client.publish("user.deleted", {"user_id": 42})
    records = wait_seen(broker, 1, settle=1.0)
    assert tally(records) == {("users", "cleanup_user_data", "user.deleted"): 1}
    assert records[0]["event_id"] == event_id
    assert records[0]["payload"] == {"user_id": 42}

    assert not marker.exists()
    assert worker.proc.poll() is None  # still running
    assert queue_depth(broker, "users_queue") == 0  # not requeued
    app = new_app("dlq-reader", broker.amqp_url)
    try:
        (listed,) = dead_letters(app, "users_queue")  # as `python -m tchu dlq list` shows it: not decoded
    finally:
        app.close()
    assert listed.payload == f"<{len(body)} bytes of {PICKLE}, not decoded>"
    assert listed.event_id == task_id
    (entry,) = get_messages(broker, "users_queue.dlq")
    assert entry.body == body  # byte for byte, never deserialized
    assert entry.properties["content_type"] == PICKLE
    assert entry.headers["id"] == task_id
    assert entry.headers["tchu_dlq_routing_key"] == "user.deleted"
    reason = entry.headers["tchu_dlq_reason"]
    assert reason.startswith("refused: Refusing to deserialize untrusted content of type pickle"), reason
    assert not marker.exists()


def _valid_task_headers(task: str = "tchu_tchu.dispatch_event") -> dict:
    return {"task": task, "id": str(uuid.uuid4()), "lang": "py", "argsrepr": "", "kwargsrepr": ""}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param((b"\xff{not json", "application/json", _valid_task_headers(), "refused: "), id="body-not-json"),
        pytest.param((b"[]", "application/json", {"x": 1}, "refused: not a task message"), id="no-task-header"),
        pytest.param(
            (
                json.dumps([["{}"], {"routing_key": "user.deleted"}, {}]).encode(),
                "application/json",
                _valid_task_headers("evil.run_shell"),
                "refused: unknown task 'evil.run_shell'",
            ),
            id="unknown-task",
        ),
        pytest.param((b"a: 1", "application/x-yaml", _valid_task_headers(), "refused: "), id="yaml"),
    ],
)
def test_what_celery_refuses_on_a_service_queue_is_dead_lettered_with_the_reason(broker, start_worker, client, case):
    body, content_type, headers, reason = case
    worker = start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "users"})
    publish_raw(broker, "user.deleted", body, content_type, headers)
    worker.wait_for("refused message on users_queue", timeout=20)
    client.publish("user.deleted", {"user_id": 7})  # the worker carries on
    wait_seen(broker, 1, settle=0.5)
    (entry,) = get_messages(broker, "users_queue.dlq")
    assert entry.body == body
    assert entry.headers["tchu_dlq_reason"].startswith(reason), entry.headers["tchu_dlq_reason"]
    assert entry.headers["tchu_dlq_queue"] == "users_queue"
    assert queue_depth(broker, "users_queue") == 0
    assert worker.proc.poll() is None


def test_a_refused_message_whose_copy_fails_goes_back_to_its_queue(broker, start_worker):
    declare(broker, "users_queue.dlq", **{"x-max-length": 0, "x-overflow": "reject-publish"})
    env = {"TCHU_TEST_SERVICE": "users", "TCHU_TEST_SETUP": "manual", "TCHU_TEST_PATTERNS": "user.deleted"}
    worker = start_worker("svc", extra_env=env)  # the manual set-up does not declare the dead-letter queue
    publish_raw(broker, "user.deleted", b"[]", "application/json", {"x": 1})
    worker.wait_for("could not copy a refused message to users_queue.dlq", timeout=20)
    worker.stop(signal.SIGKILL)
    assert queue_depth(broker, "users_queue") == 1  # requeued, not lost


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
