"""Signed events: what a signature covers, key rotation, and every way a check refuses an event."""

from __future__ import annotations

import dataclasses
import json

import pytest
from doubles import RecordingTransport

from tchu import Dispatcher, MessageDecodeError, Router, SetupError, SignatureError, Signer, TchuClient
from tchu.catalog import Catalog
from tchu.envelope import HEADER_SIGNATURE, Envelope
from tchu.signing import REPLY_KEY, REPLY_SIGNATURE_KEY

OLD = "o" * 32
NEW = "n" * 32
CONTEXT = {"order_id": 7, "user": {"id": 1, "email": "a@example.com"}, "company": {"id": 9, "name": "Acme"}}


def signed(signer: Signer, data: dict | None = None, key: str = "order.created") -> Envelope:
    transport = RecordingTransport()
    TchuClient(transport=transport, catalog=Catalog(), signer=signer).publish(key, data or CONTEXT)
    (env,) = transport.sent
    return env


def delivered(env: Envelope) -> Envelope:
    """``env`` as a consumer decodes it from the wire."""
    msg = env.task_message()
    args, kwargs, _ = json.loads(msg.body)
    return Envelope.decode(args[0], kwargs["routing_key"], msg.headers, msg.headers["id"])


def test_a_signed_event_carries_its_signature_on_the_wire_and_verifies() -> None:
    signer = Signer({"k1": OLD})
    env = signed(signer)
    assert env.task_message().headers[HEADER_SIGNATURE].startswith("v1:k1:")
    signer.verify(delivered(env))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda e: {"body": e.body.replace('"id":9', '"id":10')}, id="context-company"),
        pytest.param(lambda e: {"body": e.body.replace('"order_id":7', '"order_id":8')}, id="payload"),
        pytest.param(lambda _: {"routing_key": "order.cancelled"}, id="routing-key"),
        pytest.param(lambda _: {"event_id": "another-id"}, id="event-id"),
        pytest.param(lambda _: {"correlation_id": "another-flow"}, id="correlation-id"),
        pytest.param(lambda _: {"published_at": "2020-01-01T00:00:00+00:00"}, id="published-at"),
    ],
)
def test_any_change_after_signing_is_refused(change) -> None:
    signer = Signer({"k1": OLD})
    env = delivered(signed(signer))
    tampered = dataclasses.replace(env, **change(env))
    with pytest.raises(SignatureError, match=r"does not match its signature \(key 'k1'\): it was changed"):
        signer.verify(tampered)


def test_rotation_accepts_old_and_new_keys_and_signs_with_the_chosen_one() -> None:
    publisher_before = Signer({"2026-05": OLD})
    publisher_after = Signer({"2026-05": OLD, "2026-11": NEW}, sign_with="2026-11")
    consumer = Signer({"2026-11": NEW, "2026-05": OLD})
    consumer.verify(delivered(signed(publisher_before)))
    after = signed(publisher_after)
    assert after.signature is not None
    assert after.signature.startswith("v1:2026-11:")
    consumer.verify(delivered(after))
    retired = Signer({"2026-11": NEW})
    with pytest.raises(SignatureError, match="signed with key '2026-05', which this service does not accept"):
        retired.verify(delivered(signed(publisher_before)))


def test_a_same_named_key_with_another_secret_is_refused() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        Signer({"k1": NEW}).verify(delivered(signed(Signer({"k1": OLD}))))


def test_unsigned_events_are_refused_unless_signatures_are_optional() -> None:
    env = delivered(signed_plain())
    with pytest.raises(SignatureError, match="is not signed, and this service requires signed events"):
        Signer({"k1": OLD}).verify(env)
    Signer({"k1": OLD}, required=False).verify(env)  # while publishers move over
    with pytest.raises(SignatureError, match="does not match"):  # but a wrong signature still is refused
        Signer({"k1": OLD}, required=False).verify(dataclasses.replace(env, signature="v1:k1:" + "0" * 64))


def signed_plain() -> Envelope:
    transport = RecordingTransport()
    TchuClient(transport=transport, catalog=Catalog()).publish("order.created", CONTEXT)
    return transport.sent[0]


@pytest.mark.parametrize("signature", ["k1:abc", "v2:k1:abc", "v1::abc", "v1:k1:", "garbage"])
def test_malformed_signatures_are_refused(signature: str) -> None:
    env = dataclasses.replace(delivered(signed_plain()), signature=signature)
    with pytest.raises(SignatureError, match="malformed signature"):
        Signer({"k1": OLD}).verify(env)


def test_a_signature_header_that_is_not_a_string_is_a_decode_error() -> None:
    msg = signed(Signer({"k1": OLD})).task_message()
    headers = {**msg.headers, HEADER_SIGNATURE: 12}
    args, kwargs, _ = json.loads(msg.body)
    with pytest.raises(MessageDecodeError, match="header tchu_signature must be a non-empty string"):
        Envelope.decode(args[0], kwargs["routing_key"], headers, "id")


@pytest.mark.parametrize(
    ("keys", "options", "message"),
    [
        ({}, {}, "at least one key"),
        ({"k1": "short"}, {}, "is 5 bytes; use at least 32"),
        ({"bad id": OLD}, {}, "must be a word"),
        ({"k" * 65: OLD}, {}, "must be a word of up to 64"),
        ({"k1": OLD}, {"sign_with": "k2"}, "sign_with 'k2' is not one of the keys"),
    ],
)
def test_bad_signer_configuration_is_a_setup_error(keys, options, message: str) -> None:
    with pytest.raises(SetupError, match=message):
        Signer(keys, **options)


def test_the_signer_never_shows_its_secrets() -> None:
    text = repr(Signer({"k1": OLD, "k2": NEW}, sign_with="k2"))
    assert OLD not in text
    assert NEW not in text
    assert text == "Signer(keys=['k1', 'k2'], sign_with='k2', required=True)"


def test_a_dispatcher_with_a_signer_runs_no_handler_for_a_refused_event() -> None:
    router = Router()
    ran: list[dict] = []
    router.add("order.*", ran.append)
    dispatcher = Dispatcher(router, Catalog(), signer=Signer({"k1": OLD}))
    with pytest.raises(SignatureError):
        dispatcher.dispatch(delivered(signed_plain()))
    tampered = delivered(signed(Signer({"k1": OLD})))
    with pytest.raises(SignatureError):
        dispatcher.dispatch(dataclasses.replace(tampered, body=tampered.body.replace("Acme", "Evil")))
    assert ran == []
    dispatcher.dispatch(delivered(signed(Signer({"k1": OLD}))))
    assert ran == [CONTEXT]


def test_a_responder_behind_a_signer_refuses_unsigned_calls() -> None:
    router = Router()
    router.respond("order.total")(lambda _: {"total": 1})
    dispatcher = Dispatcher(router, Catalog(), signer=Signer({"k1": OLD}))
    with pytest.raises(SignatureError):
        dispatcher.respond(delivered(signed_plain()))
    request = delivered(signed(Signer({"k1": OLD}), {}, key="order.total"))
    reply = dispatcher.respond(request)
    assert set(reply) == {REPLY_KEY, REPLY_SIGNATURE_KEY}  # a signed request gets a signed reply
    assert Signer({"k1": OLD}).open_reply(request, reply) == {"total": 1}


def test_an_unsigned_request_to_a_lenient_responder_gets_a_plain_reply() -> None:
    router = Router()
    router.respond("order.created")(lambda _: {"total": 1})
    dispatcher = Dispatcher(router, Catalog(), signer=Signer({"k1": OLD}, required=False))
    assert dispatcher.respond(delivered(signed_plain())) == {"total": 1}  # what a tchu-tchu 2.2.3 caller reads


def reply_to(request: Envelope, value: object, signer: Signer | None = None) -> dict:
    return (signer or Signer({"k1": OLD})).sign_reply(request, value)


def test_a_signed_reply_opens_to_its_value_with_the_old_or_new_key() -> None:
    request = delivered(signed(Signer({"k1": OLD}), key="order.total"))
    value = {"total": 12.5, "lines": [1, 2], "note": "é"}
    rotated = Signer({"k2": NEW, "k1": OLD})
    assert rotated.open_reply(request, reply_to(request, value)) == value
    assert Signer({"k2": NEW}).open_reply(request, reply_to(request, value, rotated)) == value
    assert json.loads(json.dumps(reply_to(request, value))) == reply_to(request, value)  # survives the backend


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: {**r, REPLY_KEY: {"total": 1_000_000}}, "does not match its signature"),
        (lambda r: {**r, REPLY_SIGNATURE_KEY: "v1:k9:abc"}, "key 'k9', which this client does not accept"),
        (lambda r: {**r, REPLY_SIGNATURE_KEY: "v2:k1:abc"}, "malformed signature"),
        (lambda r: {**r, REPLY_SIGNATURE_KEY: 12}, "malformed signature"),
        (lambda r: r[REPLY_KEY], "is not signed, and this client requires signed replies"),
    ],
)
def test_a_changed_forged_or_unsigned_reply_is_refused(change, message: str) -> None:
    request = delivered(signed(Signer({"k1": OLD}), key="order.total"))
    with pytest.raises(SignatureError, match=message):
        Signer({"k1": OLD}).open_reply(request, change(reply_to(request, {"total": 1})))


def test_a_reply_is_bound_to_its_request() -> None:
    first = delivered(signed(Signer({"k1": OLD}), key="order.total"))
    second = delivered(signed(Signer({"k1": OLD}), key="order.total"))
    with pytest.raises(SignatureError, match="does not match"):
        Signer({"k1": OLD}).open_reply(second, reply_to(first, {"total": 1}))


def test_an_unsigned_reply_passes_when_signatures_are_optional() -> None:
    request = delivered(signed(Signer({"k1": OLD}), key="order.total"))
    assert Signer({"k1": OLD}, required=False).open_reply(request, {"total": 1}) == {"total": 1}
