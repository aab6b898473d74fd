"""What happens when things go wrong: nothing accepted is lost, nothing runs twice by accident, errors are clear."""

from __future__ import annotations

import logging
import signal
import time

import pytest
from helpers import declare, get_messages, publisher_app, queue_depth, seen, wait_seen

from tchu import (
    PayloadError,
    PublishError,
    RemoteError,
    RPCTimeoutError,
    SetupError,
    TchuClient,
    UnroutableError,
)

pytestmark = pytest.mark.integration


def test_a_worker_whose_set_up_fails_refuses_to_start_and_loses_nothing(broker, start_worker, client):
    declare(broker, "broken_queue", "user.created")  # bound by an earlier deployment
    client.publish("user.created", {"user_id": 1, "email": "a@example.com"})
    worker = start_worker(
        "svc", ready=False, extra_env={"TCHU_TEST_SERVICE": "broken", "TCHU_TEST_HANDLERS": "handlers_broken"}
    )
    worker.proc.wait(timeout=30)
    assert worker.proc.returncode != 0
    out = worker.output()
    assert "tchu set-up of broken failed" in out
    assert "handlers_broken" in out
    assert " ready." not in out
    assert queue_depth(broker, "broken_queue") == 1


def test_a_negative_confirm_raises_and_publishes_once(broker, client):
    declare(broker, "full_queue", "audit.#", **{"x-max-length": 0, "x-overflow": "reject-publish"})
    declare(broker, "other_queue", "audit.#")
    with pytest.raises(PublishError, match="negative confirm"):
        client.publish("audit.login", {"user_id": 1})
    assert queue_depth(broker, "other_queue") == 1  # routed once, never retried into duplicates


def test_an_unreachable_broker_is_a_publish_error(broker):
    app = publisher_app(broker)
    app.conf.broker_url = "amqp://guest:guest@127.0.0.1:9//"
    try:
        with TchuClient(app) as client, pytest.raises(PublishError, match=r"after 4 attempts: .*Error"):
            client.publish("user.created", {"user_id": 1})
    finally:
        app.backend.client.connection_pool.disconnect()
        app.close()


def test_a_call_without_a_result_backend_is_refused_before_sending(broker, start_worker):
    from tchu._celery import new_app  # noqa: PLC0415

    start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "users"})
    app = new_app("no_backend", broker.amqp_url)
    try:
        with TchuClient(app) as client, pytest.raises(SetupError, match="needs a result backend"):
            client.call("user.validate", {"email": "a@example.com"})
    finally:
        app.close()
    time.sleep(0.5)
    assert seen(broker) == []


def test_a_request_whose_caller_gave_up_is_never_run(broker, start_worker, client):
    start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "users"})
    with pytest.raises(RPCTimeoutError):
        client.call("user.validate", {"email": "slow@example.com"}, timeout=1)  # keeps the worker busy for 3 s
    with pytest.raises(RPCTimeoutError):
        client.call("user.validate", {"email": "late@example.com"}, timeout=1)  # waits behind it, then expires
    time.sleep(3.5)
    emails = [r["payload"]["email"] for r in seen(broker)]
    assert emails == ["slow@example.com"]
    assert client.call("user.validate", {"email": "ok@example.com"}, timeout=10)["valid"] is True


def test_remote_errors_are_logged_once_by_the_responder(broker, start_worker, client):
    worker = start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "users"})
    with pytest.raises(RemoteError):
        client.call("user.validate", {"email": "boom@example.com"}, timeout=10)
    out = worker.wait_for("email domain is blocked")
    loud = [line for line in out.splitlines() if "WARNING/" in line or "ERROR/" in line]
    assert len(loud) == 1, loud
    assert "responder for user.validate raised ValueError" in loud[0]


def test_when_the_dead_letter_copy_fails_the_event_stays_on_its_queue(broker, start_worker, client):
    declare(broker, "notifications_queue.dlq", **{"x-max-length": 0, "x-overflow": "reject-publish"})
    env = {"TCHU_TEST_SERVICE": "notifications", "TCHU_TEST_SETUP": "manual", "TCHU_TEST_PATTERNS": "user.created"}
    worker = start_worker("svc", extra_env=env)
    client.publish("user.created", {"user_id": 3, "email": "c@example.com", "fail": True})
    worker.wait_for("could not copy", timeout=20)
    records = wait_seen(broker, 4, settle=0)  # delivered again after the requeue: both handlers ran twice
    assert {r["payload"]["user_id"] for r in records} == {3}
    assert [r["redelivered"] for r in records] == [False, False, True, True]
    worker.stop(signal.SIGKILL)
    assert queue_depth(broker, "notifications_queue") == 1  # requeued, not lost


def test_an_unroutable_event_is_raised_or_logged_never_silent(broker, caplog):
    app = publisher_app(broker)
    try:
        with TchuClient(app, unroutable="raise") as strict, pytest.raises(UnroutableError, match=r"nobody\.listens"):
            strict.publish("nobody.listens", {"a": 1})
        with TchuClient(app) as lax, caplog.at_level(logging.WARNING, logger="tchu"):
            event_id = lax.publish("nobody.listens", {"a": 2})
        (record,) = [r for r in caplog.records if "reached no service" in r.getMessage()]
        assert event_id in record.getMessage()
        declare(broker, "listener_queue", "nobody.#")
        with TchuClient(app, unroutable="raise") as strict:
            strict.publish("nobody.listens", {"a": 3})  # bound now: no error
        assert queue_depth(broker, "listener_queue") == 1
    finally:
        app.backend.client.connection_pool.disconnect()
        app.close()


def test_a_payload_over_the_size_limit_is_refused_before_sending(broker, client):
    declare(broker, "big_queue", "blob.#")
    with pytest.raises(PayloadError, match=r"'blob\.stored' is \d+ bytes encoded, over the limit of 1048576"):
        client.publish("blob.stored", {"data": "x" * (1024 * 1024)})
    with TchuClient(client.transport.app, max_payload_bytes=10) as tiny, pytest.raises(PayloadError, match="10"):
        tiny.publish("blob.stored", {"data": "xxxxxxxxxx"})
    client.publish("blob.stored", {"data": "x" * 1000})
    assert queue_depth(broker, "big_queue") == 1


def test_a_quorum_service_queue_receives_and_dead_letters(broker, start_worker, client):
    start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "notifications", "TCHU_TEST_QUEUE_TYPE": "quorum"})
    for queue in ("notifications_queue", "notifications_queue.dlq"):
        info = broker.management.request("GET", f"/queues/{broker.vhost}/{queue}")
        assert info["type"] == "quorum", queue
    client.publish("user.created", {"user_id": 4, "email": "d@example.com"})
    client.publish("user.created", {"user_id": 5, "email": "e@example.com", "fail": True})
    records = wait_seen(broker, 4)
    assert sorted(r["payload"]["user_id"] for r in records) == [4, 4, 5, 5]
    deadline = time.monotonic() + 10
    while queue_depth(broker, "notifications_queue.dlq") < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert queue_depth(broker, "notifications_queue.dlq") == 1


def test_only_the_failing_handler_is_retried_with_backoff_until_it_succeeds(broker, start_worker, client):
    start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "jobs", "TCHU_TEST_HANDLERS": "handlers_retry"})
    event_id = client.publish("job.run", {"n": 1})
    records = wait_seen(broker, 5, settle=1.0)
    runs = [(r["handler"], r.get("run")) for r in records]
    assert sorted(h for h, _ in runs) == ["flaky", "flaky", "flaky", "picky", "steady"]  # others ran once
    assert [run for h, run in runs if h == "flaky"] == [1, 2, 3]
    assert {r["event_id"] for r in records} == {event_id}
    flaky_at = [r["at"] for r in records if r["handler"] == "flaky"]
    assert flaky_at[1] - flaky_at[0] >= 0.2  # the backoff: 0.2 s, then 0.4 s
    assert flaky_at[2] - flaky_at[1] >= 0.4
    assert queue_depth(broker, "jobs_queue.dlq") == 0


def test_a_handler_out_of_retries_is_dead_lettered_with_its_attempts(broker, start_worker, client):
    start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "jobs", "TCHU_TEST_HANDLERS": "handlers_retry"})
    client.publish("job.doomed", {"n": 2, "bad_value": True})
    records = wait_seen(broker, 8, settle=1.0)
    counts = {h: sum(1 for r in records if r["handler"] == h) for h in ("doomed", "flaky", "picky", "steady")}
    assert counts == {"doomed": 3, "flaky": 3, "picky": 1, "steady": 1}
    deadline = time.monotonic() + 10
    while queue_depth(broker, "jobs_queue.dlq") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    dead = sorted(get_messages(broker, "jobs_queue.dlq"), key=lambda m: m.headers["tchu_dlq_attempts"])
    assert [(m.headers["tchu_dlq_handlers"], m.headers["tchu_dlq_attempts"]) for m in dead] == [
        ("handlers_retry.picky", 1),  # ValueError is not in its autoretry_for: final at once
        ("handlers_retry.doomed", 3),  # two retries, then dead-lettered
    ]
    assert "always fails" in dead[1].headers["tchu_dlq_reason"]


def test_with_the_idempotency_guard_a_redelivery_skips_finished_handlers(broker, start_worker, client):
    env = {"TCHU_TEST_SERVICE": "reports", "TCHU_TEST_HANDLERS": "handlers_idem", "TCHU_TEST_IDEMPOTENCY": "1"}
    worker = start_worker("svc", extra_env=env)
    event_id = client.publish("report.build", {"seconds": 30})
    wait_seen(broker, 2, settle=0)  # announce finished, build started
    worker.stop(signal.SIGKILL)
    start_worker("svc", extra_env=env)
    # the same event again: announce is skipped, build runs again (the test ends while it sleeps)
    records = wait_seen(broker, 3, settle=0.5)
    assert [r["handler"] for r in records] == ["announce", "build.start", "build.start"]
    assert {r["event_id"] for r in records} == {event_id}
    assert records[-1]["redelivered"] is True
