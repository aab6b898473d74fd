"""Signed events between real services: a consumer with keys handles only what a holder of a key signed."""

from __future__ import annotations

import dataclasses
import json

import pytest
from helpers import get_messages, publisher_app, wait_seen
from kombu import Connection, Exchange, Producer

from tchu import RemoteError, RPCError, Signer, TchuClient
from tchu.envelope import CONTENT_ENCODING, CONTENT_TYPE, Envelope

pytestmark = pytest.mark.integration

SECRET = "s" * 32
OTHER = "x" * 32
CONTEXT = {"order_id": 7, "user": {"id": 1, "email": "ann@example.com"}, "company": {"id": 9, "name": "Acme"}}


@pytest.fixture
def signed_service(start_worker):
    """The analytics service (its ``#`` handler records everything), accepting keys k1 and k2."""
    return start_worker(
        "svc", extra_env={"TCHU_TEST_SERVICE": "analytics", "TCHU_TEST_SIGNING_KEYS": f"k1={SECRET},k2={OTHER}"}
    )


def client_with(broker, signer: Signer | None) -> TchuClient:
    return TchuClient(publisher_app(broker), signer=signer)


def publish_raw(broker, envelope: Envelope, body: str) -> None:
    """Publish ``envelope``'s task message with its payload replaced by ``body``, headers (signature) untouched."""
    msg = envelope.task_message()
    _, kwargs, embed = json.loads(msg.body)
    with Connection(broker.amqp_url, transport_options={"confirm_publish": True}) as conn:
        Producer(conn.default_channel).publish(
            json.dumps([[body], kwargs, embed]).encode(),
            exchange=Exchange("tchu_events", type="topic", durable=True),
            routing_key=envelope.routing_key,
            headers=msg.headers,
            content_type=CONTENT_TYPE,
            content_encoding=CONTENT_ENCODING,
            delivery_mode=2,
        )


def dead_letters(broker) -> dict[str, str]:
    """Event id -> dead-letter reason, for what the analytics service refused."""
    return {m.headers["id"]: m.headers["tchu_dlq_reason"] for m in get_messages(broker, "analytics_queue.dlq")}


def test_only_correctly_signed_events_reach_the_handlers(broker, signed_service):
    with client_with(broker, Signer({"k2": OTHER})) as signed, client_with(broker, None) as unsigned:
        good = signed.publish("order.created", CONTEXT)
        plain = unsigned.publish("order.created", CONTEXT)
        forged_key = client_with(broker, Signer({"k1": "f" * 32}))
        forged = forged_key.publish("order.created", CONTEXT)
        forged_key.close()
    records = wait_seen(broker, 1, settle=1.5)
    assert [(r["event_id"], r["payload"]) for r in records if r["handler"] == "track_everything"] == [(good, CONTEXT)]
    reasons = dead_letters(broker)
    assert set(reasons) == {plain, forged}
    assert reasons[plain].startswith(f"signature: event {plain} ('order.created') is not signed")
    assert "does not match its signature (key 'k1')" in reasons[forged]


def test_a_tampered_context_is_dead_lettered_and_never_handled(broker, signed_service):
    envelope = Envelope.new("order.created", CONTEXT)
    envelope = dataclasses.replace(envelope, signature=Signer({"k1": SECRET}).sign(envelope))
    tampered = envelope.body.replace('"company":{"id":9', '"company":{"id":10')
    assert tampered != envelope.body
    publish_raw(broker, envelope, tampered)  # a forged company under the original signature
    with client_with(broker, Signer({"k1": SECRET})) as signed:
        after = signed.publish("order.created", {"n": 2})  # the worker keeps consuming
    records = wait_seen(broker, 1, settle=1.5)
    assert [r["event_id"] for r in records if r["handler"] == "track_everything"] == [after]
    reasons = dead_letters(broker)
    assert list(reasons) == [envelope.event_id]
    assert reasons[envelope.event_id].startswith(
        f"signature: event {envelope.event_id} ('order.created') does not match its signature (key 'k1')"
    )


def test_a_signed_call_gets_a_signed_reply_from_a_real_responder(broker, start_worker):
    start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "users", "TCHU_TEST_SIGNING_KEYS": f"k1={SECRET}"})
    with client_with(broker, Signer({"k1": SECRET})) as client:
        assert client.call("user.validate", {"email": "ann@example.com"}, timeout=10) == {
            "valid": True,
            "email": "ann@example.com",
        }
    with client_with(broker, Signer({"k1": OTHER})) as client, pytest.raises(RemoteError, match="SignatureError"):
        client.call("user.validate", {"email": "ann@example.com"}, timeout=10)  # the request's key is unknown


def test_a_signing_caller_refuses_a_reply_the_responder_did_not_sign(broker, start_worker):
    start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "users"})  # no signer: plain replies
    with (
        client_with(broker, Signer({"k1": SECRET})) as client,
        pytest.raises(RPCError, match="is not signed, and this client requires signed replies"),
    ):
        client.call("user.validate", {"email": "ann@example.com"}, timeout=10)
