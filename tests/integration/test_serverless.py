"""Publishing with kombu alone (``tchu.serverless``): the same events reach real workers, and Celery never loads."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest
from helpers import declare, get_messages, queue_depth, tally, wait_seen

from tchu import Catalog, EventSchema, PayloadValidationError, PublishError, SetupError, UnroutableError
from tchu.serverless import KombuTransport, broker_url, connect

pytestmark = pytest.mark.integration

SCHEMA = EventSchema(
    "user.deleted",
    {
        "type": "object",
        "required": ["user_id"],
        "properties": {"user_id": {"type": "integer", "minimum": 1}},
        "additionalProperties": False,
    },
)


def test_an_event_published_without_celery_is_handled_by_a_real_worker(broker, start_worker):
    """A separate interpreter publishes with ``tchu.serverless``; the users service's worker handles the event."""
    start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "users"})
    script = textwrap.dedent(
        """
        import json, sys
        from tchu.serverless import connect
        with connect(sys.argv[1]) as client:
            event_id = client.publish("user.deleted", {"user_id": 42})
        print(json.dumps({"event_id": event_id, "celery_loaded": "celery" in sys.modules}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, broker.amqp_url], capture_output=True, text=True, check=True, timeout=60
    )
    result = json.loads(out.stdout)
    assert result["celery_loaded"] is False
    records = wait_seen(broker, 1, settle=0.5)
    assert tally(records) == {("users", "cleanup_user_data", "user.deleted"): 1}
    assert records[0]["event_id"] == result["event_id"]
    assert records[0]["payload"] == {"user_id": 42}


def test_the_message_is_the_one_a_service_client_sends(broker, client):
    """Same body, same headers (but for the ids and the time), same properties as a Celery app's client."""
    declare(broker, "tap_queue", "user.deleted")
    with connect(broker.amqp_url) as serverless:
        serverless.publish("user.deleted", {"user_id": 1})
    client.publish("user.deleted", {"user_id": 1})
    plain, celery = get_messages(broker, "tap_queue")
    assert plain.body == celery.body
    # ids, times and (with a tracer provider set earlier in the process) each publish's own span vary
    varying = {"id", "tchu_published_at", "traceparent", "tracestate"}
    assert set(plain.headers) == set(celery.headers)
    assert {k: v for k, v in plain.headers.items() if k not in varying} == {
        k: v for k, v in celery.headers.items() if k not in varying
    }
    assert plain.properties["delivery_mode"] == celery.properties["delivery_mode"] == 2


def test_an_invalid_payload_is_refused_and_nothing_is_sent(broker):
    declare(broker, "users_queue", "user.deleted")
    catalog = Catalog()
    catalog.register(SCHEMA)
    with (
        connect(broker.amqp_url, catalog=catalog) as serverless,
        pytest.raises(PayloadValidationError, match="user_id"),
    ):
        serverless.publish("user.deleted", {"user_id": 0})
    assert queue_depth(broker, "users_queue") == 0


def test_a_batch_is_pipelined_and_every_event_arrives_in_order(broker):
    declare(broker, "users_queue", "user.#")
    with connect(broker.amqp_url) as serverless:
        ids = serverless.publish_many([("user.deleted", {"user_id": n}) for n in range(1, 201)])
    messages = get_messages(broker, "users_queue")
    assert [m.headers["id"] for m in messages] == ids


def test_an_unroutable_event_is_raised_when_asked(broker):
    with connect(broker.amqp_url, unroutable="raise") as serverless, pytest.raises(UnroutableError, match="nobody"):
        serverless.publish("nobody.listens", {"a": 1})


def test_an_unreachable_broker_is_a_publish_error_after_the_reconnect_attempts():
    started = time.monotonic()
    with (
        connect("amqp://guest:guest@127.0.0.1:9//", connect_timeout=1) as serverless,
        pytest.raises(PublishError, match=r"after 4 attempts"),
    ):
        serverless.publish("user.deleted", {"user_id": 1})
    assert time.monotonic() - started < 30  # bounded: four attempts with backoff


def test_a_call_is_refused_naming_what_it_needs(broker):
    with connect(broker.amqp_url) as serverless, pytest.raises(SetupError, match="needs a Celery result backend"):
        serverless.call("user.validate", {"email": "a@example.com"})


def test_the_broker_url_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("TCHU_BROKER_URL", raising=False)
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://celery-host//")
    assert broker_url() == "amqp://celery-host//"
    monkeypatch.setenv("TCHU_BROKER_URL", "amqp://tchu-host//")
    assert broker_url() == "amqp://tchu-host//"
    assert KombuTransport("amqp://given//").url == "amqp://given//"
