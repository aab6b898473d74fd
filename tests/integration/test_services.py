"""The README's three services (users, notifications, analytics) as real worker processes on RabbitMQ."""

from __future__ import annotations

import json
import time

import pytest
from helpers import get_messages, queue_depth, seen, tally, wait_seen

from tchu import NoResponderError, RemoteError, RPCTimeoutError

pytestmark = pytest.mark.integration


def service_env(name: str, **extra: str) -> dict[str, str]:
    return {"TCHU_TEST_SERVICE": name, **extra}


@pytest.fixture
def three_services(start_worker):
    return {name: start_worker("svc", extra_env=service_env(name)) for name in ("users", "notifications", "analytics")}


def test_bindings_are_derived_from_handlers(broker, three_services):
    def bound(queue: str) -> list[str]:
        return sorted(b.pattern for b in broker.management.queue_bindings(broker.vhost, queue))

    assert bound("users_queue") == ["user.deleted"]
    assert bound("notifications_queue") == ["user.created"]
    assert bound("analytics_queue") == ["#", "user.*"]


def test_one_event_reaches_every_bound_service_once_per_handler(broker, three_services, client):
    created = client.publish("user.created", {"user_id": 1, "email": "ada@example.com", "name": "Ada"})
    deleted = client.publish("user.deleted", {"user_id": 1})
    client.publish("order.created", {"order_id": 7})

    records = wait_seen(broker, 8)
    assert tally(records) == {
        ("notifications", "send_welcome_email", "user.created"): 1,
        ("notifications", "send_welcome_email_again", "user.created"): 1,
        ("analytics", "track_user_event", "user.created"): 1,  # registered twice, runs once
        ("analytics", "track_everything", "user.created"): 1,
        ("users", "cleanup_user_data", "user.deleted"): 1,
        ("analytics", "track_user_event", "user.deleted"): 1,
        ("analytics", "track_everything", "user.deleted"): 1,
        ("analytics", "track_everything", "order.created"): 1,
    }
    by_key = {r["routing_key"]: r for r in records if r["handler"] == "track_everything"}
    assert by_key["user.created"]["payload"] == {"user_id": 1, "email": "ada@example.com", "name": "Ada"}
    assert by_key["user.created"]["event_id"] == created
    assert by_key["user.deleted"]["event_id"] == deleted
    assert by_key["user.created"]["correlation_id"] == created
    assert by_key["user.created"]["published_at"].endswith("+00:00")


def test_failing_handler_does_not_stop_the_others_and_is_dead_lettered(broker, three_services, client):
    event_id = client.publish("user.created", {"user_id": 2, "email": "b@example.com", "fail": True})

    records = wait_seen(broker, 4)
    handlers = sorted(r["handler"] for r in records if r["service"] == "notifications")
    assert handlers == ["send_welcome_email", "send_welcome_email_again"]

    out = three_services["notifications"].wait_for("mail server down")
    failure_lines = [line for line in out.splitlines() if "failed for user.created" in line]
    assert len(failure_lines) == 1, failure_lines
    assert "handlers_notifications.send_welcome_email_again" in failure_lines[0]
    assert event_id in failure_lines[0]
    loud = [line for line in out.splitlines() if event_id in line and ("WARNING/" in line or "ERROR/" in line)]
    assert loud == failure_lines  # logged once: Celery reports nothing more about the dead-lettered event

    deadline = time.monotonic() + 10
    while queue_depth(broker, "notifications_queue.dlq") < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    (msg,) = get_messages(broker, "notifications_queue.dlq")
    assert msg.headers["tchu_dlq_handlers"] == "handlers_notifications.send_welcome_email_again"
    assert "mail server down" in msg.headers["tchu_dlq_reason"]
    assert msg.headers["id"] == event_id
    args, kwargs, _ = json.loads(msg.body)
    assert json.loads(args[0])["user_id"] == 2
    assert kwargs == {"routing_key": "user.created"}
    three_services["notifications"].stop()  # an unacked message would now return to the queue
    assert queue_depth(broker, "notifications_queue") == 0


def test_rpc_has_exactly_one_responder_and_never_reaches_broadcast_listeners(broker, start_worker, client):
    start_worker("svc", extra_env=service_env("users"))
    start_worker("svc", extra_env=service_env("users"))  # a second instance of the same service
    start_worker("svc", extra_env=service_env("users_replica", TCHU_TEST_HANDLERS="handlers_users"))
    start_worker("svc", extra_env=service_env("analytics"))  # '#' listener

    replies = [client.call("user.validate", {"email": f"u{i}@example.com"}, timeout=10) for i in range(12)]

    assert replies == [{"valid": True, "email": f"u{i}@example.com"} for i in range(12)]
    records = wait_seen(broker, 12)
    assert len(records) == 12
    assert {r["handler"] for r in records} == {"validate_user"}
    assert sorted(r["payload"]["email"] for r in records) == sorted(f"u{i}@example.com" for i in range(12))


def test_rpc_remote_exception_reaches_caller_with_type_and_message(broker, start_worker, client):
    start_worker("svc", extra_env=service_env("users"))
    with pytest.raises(RemoteError) as info:
        client.call("user.validate", {"email": "boom@example.com"}, timeout=10)
    assert info.value.remote_type == "ValueError"
    assert info.value.remote_message == "email domain is blocked"
    assert info.value.routing_key == "user.validate"


def test_rpc_timeout_is_builtin_timeout_error(broker, start_worker, client):
    start_worker("svc", extra_env=service_env("users"))
    with pytest.raises(TimeoutError) as info:
        client.call("user.validate", {"email": "slow@example.com"}, timeout=1)
    assert isinstance(info.value, RPCTimeoutError)
    assert "user.validate" in str(info.value)


def test_rpc_without_responder_fails_fast(broker, start_worker, client):
    start_worker("svc", extra_env=service_env("analytics"))  # listens to '#', responds to nothing
    started = time.monotonic()
    with pytest.raises(NoResponderError, match=r"order\.calculate_total"):
        client.call("order.calculate_total", {"items": []}, timeout=30)
    assert time.monotonic() - started < 15  # well before the 30 s timeout
    assert seen(broker) == []


def test_rpc_with_celery_rpc_backend(broker, start_worker, rpc_client):
    client = rpc_client
    start_worker("svc", extra_env=service_env("users", TCHU_TEST_BACKEND="rpc"))
    assert client.call("user.validate", {"email": "x@example.com"}, timeout=10) == {
        "valid": True,
        "email": "x@example.com",
    }
    with pytest.raises(RemoteError, match="ValueError: email domain is blocked"):
        client.call("user.validate", {"email": "boom@example.com"}, timeout=10)


def test_an_rpc_request_is_transient_and_expires_with_its_call(broker, client):
    """The request waits in the responder queue only while its caller does: not written to disk, gone at timeout."""
    from kombu import Connection, Consumer, Queue  # noqa: PLC0415

    taken = []
    with Connection(broker.amqp_url) as conn:
        queue = Queue("tchu.rpc.user.validate", durable=True)(conn.default_channel)
        queue.declare()
        with Consumer(conn.default_channel, [queue], callbacks=[lambda _body, message: taken.append(message)]):
            with pytest.raises(RPCTimeoutError):  # a responder that never answers
                client.call("user.validate", {"email": "x@example.com"}, timeout=1)
            conn.drain_events(timeout=5)
    [request] = taken
    assert request.properties["delivery_mode"] == 1
    assert request.properties["expiration"] == "1000"
    assert request.headers["task"] == "tchu.rpc.respond"


def test_a_responder_that_stopped_is_noticed_once_the_trusted_while_passed(broker, start_worker, client):
    from tchu._celery.transport import RESPONDER_KNOWN_FOR  # noqa: PLC0415

    worker = start_worker("svc", extra_env=service_env("users"))
    assert client.call("user.validate", {"email": "x@example.com"}, timeout=10)["valid"] is True
    worker.stop()
    time.sleep(RESPONDER_KNOWN_FOR)
    started = time.monotonic()
    with pytest.raises(NoResponderError, match=r"no worker is consuming 'tchu\.rpc\.user\.validate'"):
        client.call("user.validate", {"email": "x@example.com"}, timeout=30)
    assert time.monotonic() - started < 5
