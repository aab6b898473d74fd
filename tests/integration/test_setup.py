"""Service set-up against the real broker: derived bindings, stale ones, errors, the manual configuration."""

from __future__ import annotations

import json
import logging
import signal
import time
from pathlib import Path

import pytest
from helpers import get_messages, publisher_app, queue_depth, wait_seen
from kombu import Connection, Exchange, Queue

from tchu import PublishError, Router, SetupError, TchuClient, setup_service

pytestmark = pytest.mark.integration

SUPPORT = str(Path(__file__).resolve().parent.parent / "support")


@pytest.fixture
def app(broker):
    app = publisher_app(broker)
    yield app
    app.backend.client.connection_pool.disconnect()
    app.close()


def bindings(broker, queue: str) -> list[str]:
    return sorted(b.pattern for b in broker.management.queue_bindings(broker.vhost, queue))


def bind(broker, queue: str, pattern: str, **queue_args) -> None:
    with Connection(broker.amqp_url) as conn:
        exchange = Exchange("tchu_events", type="topic", durable=True)
        Queue(queue, exchange, routing_key=pattern, durable=True, **queue_args)(conn.default_channel).declare()


def test_stale_bindings_are_reported_then_removed_on_request(broker, app, caplog):
    router = Router()
    router.subscribe("user.created")(lambda data: data)
    service = setup_service(app, "billing", router=router)
    bind(broker, "billing_queue", "order.*")  # left behind by a handler that no longer exists

    with caplog.at_level(logging.WARNING, logger="tchu"):
        report = service.declare()
    assert report.bound == ("user.created",)
    assert report.stale == ("order.*",)
    assert report.removed == ()
    assert report.checked
    assert bindings(broker, "billing_queue") == ["order.*", "user.created"]
    warnings = [r.getMessage() for r in caplog.records if "no handler needs" in r.getMessage()]
    assert len(warnings) == 1
    assert "'order.*'" in warnings[0]

    report = service.declare(remove_stale=True)
    assert report.removed == ("order.*",)
    assert bindings(broker, "billing_queue") == ["user.created"]
    assert service.declare().stale == ()


def test_unreachable_management_api_leaves_bindings_unchecked(broker, app, caplog):
    router = Router()
    router.subscribe("user.created")(lambda data: data)
    service = setup_service(app, "billing", router=router, management_url="http://127.0.0.1:9")
    with caplog.at_level(logging.WARNING, logger="tchu"):
        report = service.declare()
    assert not report.checked
    assert report.bound == ("user.created",)
    assert any("stale bindings not checked" in r.getMessage() for r in caplog.records)
    assert bindings(broker, "billing_queue") == ["user.created"]


def test_existing_queue_with_other_arguments_is_a_setup_error(broker, app):
    bind(broker, "billing_queue", "user.created", queue_arguments={"x-max-length": 10})
    router = Router()
    router.subscribe("user.created")(lambda data: data)
    service = setup_service(app, "billing", router=router)
    with pytest.raises(SetupError, match=r"'billing_queue' already exists with other arguments"):
        service.declare()


def test_unimportable_handler_module_is_a_setup_error_naming_it(app):
    service = setup_service(app, "billing", handlers=["no_such_handlers_module"], router=Router())
    with pytest.raises(SetupError, match="no_such_handlers_module"):
        service.declare()


def test_unreachable_broker_is_a_publish_error(app):
    app.conf.broker_url = "amqp://guest:guest@127.0.0.1:9//"
    app.conf.broker_connection_max_retries = 0
    router = Router()
    router.subscribe("user.created")(lambda data: data)
    service = setup_service(app, "billing", router=router)
    with pytest.raises(PublishError, match="cannot reach the broker"):
        service.declare()


def test_publisher_declares_its_service_before_the_first_publish(broker, app, monkeypatch):
    monkeypatch.syspath_prepend(SUPPORT)
    import handlers_private  # noqa: PLC0415 -- from tests/support, put on the path above

    setup_service(app, "audit", handlers=["handlers_private"], router=handlers_private.router)
    with TchuClient(app) as client:
        client.publish("audit.login", {"user_id": 1})  # no worker ever ran: the publisher declared the queue
        client.publish("order.created", {"order_id": 1})  # not an audit pattern
    assert bindings(broker, "audit_queue") == ["audit.#"]
    assert queue_depth(broker, "audit_queue") == 1
    (msg,) = get_messages(broker, "audit_queue")
    assert json.loads(json.loads(msg.body)[0][0]) == {"user_id": 1}


def test_manual_configuration_of_tchu_tchu_2_keeps_working(broker, start_worker, client):
    env = {
        "TCHU_TEST_SERVICE": "notifications",
        "TCHU_TEST_SETUP": "manual",
        "TCHU_TEST_PATTERNS": "user.created,order.*",
    }
    start_worker("svc", extra_env=env)
    assert bindings(broker, "notifications_queue") == ["order.*", "user.created"]
    client.publish("user.created", {"user_id": 5, "email": "e@example.com"})
    order_id = client.publish("order.created", {"order_id": 9})  # bound by hand, but no handler

    records = wait_seen(broker, 2)
    assert sorted(r["handler"] for r in records) == ["send_welcome_email", "send_welcome_email_again"]
    deadline = time.monotonic() + 10
    while queue_depth(broker, "notifications_queue.dlq") < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    (msg,) = get_messages(broker, "notifications_queue.dlq")
    assert msg.headers["id"] == order_id
    assert msg.headers["tchu_dlq_reason"].startswith("no handler: no handler matches 'order.created'")


@pytest.mark.parametrize(
    "setup",
    [
        pytest.param({}, id="one-call"),
        pytest.param({"TCHU_TEST_SETUP": "manual", "TCHU_TEST_PATTERNS": "job.run"}, id="manual-configuration"),
    ],
)
def test_worker_killed_mid_handler_gets_the_event_again(broker, start_worker, client, setup):
    env = {"TCHU_TEST_SERVICE": "slow", **setup}
    worker = start_worker("svc", extra_env=env)
    event_id = client.publish("job.run", {"seconds": 30})
    wait_seen(broker, 1, settle=0)
    worker.proc.send_signal(signal.SIGKILL)
    worker.proc.wait()

    start_worker("svc", extra_env=env)
    records = wait_seen(broker, 2, settle=0)
    assert [r["handler"] for r in records] == ["run_job.start", "run_job.start"]
    assert {r["event_id"] for r in records} == {event_id}
    assert [r["redelivered"] for r in records] == [False, True]
