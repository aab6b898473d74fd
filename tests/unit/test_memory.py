"""The in-memory broker: RabbitMQ routing, the production envelope and dispatcher, and the worker's outcomes."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tchu import Router, Signer, TchuClient, current_event
from tchu.catalog import Catalog, EventSchema
from tchu.envelope import TASK_NAME, Envelope, TaskMessage
from tchu.errors import (
    FieldProblem,
    NoHandlerError,
    NoResponderError,
    PayloadValidationError,
    RemoteError,
    RPCError,
    RPCTimeoutError,
    SetupError,
    UnroutableError,
)
from tchu.idempotency import MemoryIdempotency
from tchu.memory import MAX_REASON, RPC_TASK_NAME, MemoryBroker, read_task_message
from tchu.retry import RetryPolicy
from tchu.signing import SignatureError

USER_SCHEMA = {
    "type": "object",
    "required": ["user_id"],
    "properties": {"user_id": {"type": "integer", "minimum": 1}},
}
TOTAL_SCHEMA = {"type": "object", "required": ["items"], "properties": {"items": {"type": "array"}}}
TOTAL_REPLY = {"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}}
KEY_A = "a" * 32
KEY_B = "b" * 32


def reference_match(pattern: list[str], key: list[str]) -> bool:
    """RabbitMQ's definition, by brute force: each '#' absorbs any number of words, each '*' exactly one."""
    if not pattern:
        return not key
    if pattern[0] == "#":
        return any(reference_match(pattern[1:], key[n:]) for n in range(len(key) + 1))
    return bool(key) and pattern[0] in {"*", key[0]} and reference_match(pattern[1:], key[1:])


@pytest.fixture(autouse=True)
def no_default_schemas(monkeypatch: pytest.MonkeyPatch) -> None:
    """Services made without ``catalog=`` know no schema here, whatever generated packages registered."""
    monkeypatch.setattr("tchu.dispatch.default_catalog", Catalog())


@pytest.fixture
def catalog() -> Catalog:
    catalog = Catalog()
    catalog.register(EventSchema("user.created", USER_SCHEMA))
    catalog.register(EventSchema("order.calculate_total", TOTAL_SCHEMA, kind="rpc", response=TOTAL_REPLY))
    return catalog


@pytest.fixture
def broker() -> MemoryBroker:
    return MemoryBroker()


@pytest.fixture
def router() -> Router:
    return Router()


def client_for(broker: MemoryBroker, catalog: Catalog | None = None, **options: Any) -> TchuClient:
    unroutable = options.pop("unroutable", "log")
    return TchuClient(transport=broker.transport(unroutable=unroutable), catalog=catalog or Catalog(), **options)


def recorder(router: Router, pattern: str, seen: list[Any], **options: Any) -> None:
    router.add(pattern, lambda data: seen.append((pattern, data)), handler_id=f"seen:{pattern}", **options)


# --- routing: RabbitMQ's topic semantics ------------------------------------------------------------------------------

# (pattern, key, delivered by RabbitMQ): the edge cases tests/integration/test_topic_oracle.py checks on the broker
ROUTING_CASES = [
    ("user.#", "user", True),
    ("user.#", "user.profile.updated", True),
    ("user.#", "users", False),
    ("#.*.*.test", "1.2.test", True),
    ("#.*.*.test", "2.test", False),
    ("a.#.b", "a.b", True),
    ("a.#.b", "a.x.b.y.b", True),
    ("a.#.b", "a.x.b.y", False),
    ("#", "user.profile.updated", True),
    ("#.#", "a", True),
    ("user.*", "user.created", True),
    ("user.*", "user.profile.updated", False),
    ("user.*", "user", False),
    ("*", "a.b", False),
    ("*.#.*", "a", False),
    ("*.#.*", "a.b", True),
    ("#.a.#", "x.a.y", True),
    ("user.created", "user.created.v2", False),
]


@pytest.mark.parametrize(("pattern", "key", "delivered"), ROUTING_CASES)
def test_routing_follows_rabbitmq(
    broker: MemoryBroker, router: Router, pattern: str, key: str, delivered: bool
) -> None:
    seen: list[Any] = []
    recorder(router, pattern, seen)
    broker.add_service("svc", router=router)
    client_for(broker, unroutable="ignore").publish(key, {"n": 1})
    assert [p for p, _ in seen] == ([pattern] if delivered else [])
    assert [s.name for s in broker.route(key)] == (["svc"] if delivered else [])


@settings(max_examples=300, deadline=None, database=None)
@given(
    patterns=st.lists(st.lists(st.sampled_from(["a", "b", "*", "#"]), min_size=1, max_size=4), min_size=1, max_size=4),
    key=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=5),
)
def test_each_service_bound_by_a_matching_pattern_gets_one_copy(patterns: list[list[str]], key: list[str]) -> None:
    broker = MemoryBroker()
    services = []
    for index, words in enumerate(patterns):
        router = Router()
        router.add(".".join(words), lambda _data: None, handler_id="h")
        broker.add_service(f"s{index}", router=router)
        services.append((f"s{index}", words))
    expected = [name for name, words in services if reference_match(words, key)]
    assert [s.name for s in broker.route(".".join(key))] == expected


def test_overlapping_bindings_deliver_one_copy_and_each_handler_runs_once(broker: MemoryBroker, router: Router) -> None:
    seen: list[Any] = []
    router.add("user.*", lambda d: seen.append(("star", d)), handler_id="star")
    router.add("user.#", lambda d: seen.append(("hash", d)), handler_id="hash")
    router.add("#", lambda d: seen.append(("all", d)), handler_id="hash")  # the same handler id: runs once
    service = broker.add_service("svc", router=router)
    assert service.bindings() == ["#", "user.#", "user.*"]
    client_for(broker).publish("user.created", {"n": 1})
    assert [name for name, _ in seen] == ["star", "hash"]
    assert len(service.handled) == 1


def test_bindings_follow_handlers_registered_later(broker: MemoryBroker, router: Router) -> None:
    broker.add_service("svc", router=router)
    assert broker.route("order.created") == []
    seen: list[Any] = []
    recorder(router, "order.*", seen)
    client_for(broker).publish("order.created", {"n": 1})
    assert seen == [("order.*", {"n": 1})]


def test_every_bound_service_gets_the_event_with_its_own_copy(broker: MemoryBroker) -> None:
    first, second = Router(), Router()
    got: dict[str, Any] = {}

    def mutate(data: dict[str, Any]) -> None:
        data["touched"] = True
        got["first"] = data

    first.add("user.#", mutate, handler_id="mutate")
    second.add("user.created", lambda d: got.setdefault("second", d), handler_id="read")
    broker.add_service("first", router=first)
    broker.add_service("second", router=second)
    client_for(broker).publish("user.created", {"user_id": 1})
    assert got == {"first": {"user_id": 1, "touched": True}, "second": {"user_id": 1}}


# --- the production envelope: encoded to a task message and read back -------------------------------------------------


def test_handlers_see_the_event_as_a_worker_decodes_it(broker: MemoryBroker, router: Router, catalog: Catalog) -> None:
    seen: list[Any] = []
    router.add("user.created", lambda d: seen.append((d, current_event())), handler_id="h")
    broker.add_service("svc", router=router, catalog=catalog)
    catalog.register(dataclasses.replace(catalog.get("user.created"), version=3))  # type: ignore[type-var]
    event_id = client_for(broker, catalog).publish("user.created", {"user_id": 7, "note": "é ✓"}, correlation_id="c-1")
    [(data, info)] = seen
    assert data == {"user_id": 7, "note": "é ✓"}
    assert (info.routing_key, info.event_id, info.correlation_id) == ("user.created", event_id, "c-1")
    assert info.schema_version == 3
    assert info.published_at == broker.published[0].published_at
    assert info.handler == "h"
    assert info.attempt == 1
    assert info.headers["tchu_published_at"] == info.published_at
    assert "tchu_event_id" not in info.headers  # the event id travels as the task id


def test_send_encodes_a_task_message_and_decodes_it_as_a_worker(
    broker: MemoryBroker, router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[tuple[Any, ...]] = []
    original = Envelope.decode.__func__  # type: ignore[attr-defined]

    def spy(cls: type[Envelope], args_body: object, routing_key: object, headers: Any, task_id: str) -> Envelope:
        decoded.append((args_body, routing_key, dict(headers), task_id))
        return original(cls, args_body, routing_key, headers, task_id)  # type: ignore[no-any-return]

    monkeypatch.setattr(Envelope, "decode", classmethod(spy))
    seen: list[Any] = []
    recorder(router, "user.created", seen)
    broker.add_service("svc", router=router)
    event_id = client_for(broker).publish("user.created", {"user_id": 1})
    body, key, headers, task_id = decoded[-1]
    assert body == '{"user_id":1}'  # the JSON string from the message body, not the publisher's dict
    assert (key, task_id) == ("user.created", event_id)  # the event id travels as the task id
    assert "tchu_event_id" not in headers
    assert seen == [("user.created", {"user_id": 1})]


def test_a_wire_format_bug_shows_in_memory(
    broker: MemoryBroker, router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    encode = Envelope.task_message

    def two_arguments(self: Envelope, **options: Any) -> TaskMessage:
        message = encode(self, **options)
        args, kwargs, embed = json.loads(message.body)
        return dataclasses.replace(message, body=json.dumps([[*args, "extra"], kwargs, embed]).encode())

    monkeypatch.setattr(Envelope, "task_message", two_arguments)
    seen: list[Any] = []
    recorder(router, "user.created", seen)
    broker.add_service("svc", router=router)
    client_for(broker).publish("user.created", {"user_id": 1})
    assert seen == []
    [entry] = broker.dead_letters("svc")
    assert entry.reason == "decode: expected one task argument (the payload JSON), got 2"


def test_an_undecodable_header_is_dead_lettered_with_the_decoders_reason(broker: MemoryBroker, router: Router) -> None:
    recorder(router, "user.created", [])
    broker.add_service("svc", router=router)
    envelope = Envelope.new("user.created", {"user_id": 1})
    broker.transport().send(dataclasses.replace(envelope, schema_version="2"))  # type: ignore[arg-type]
    [entry] = broker.dead_letters("svc")
    assert entry.reason == "decode: header tchu_schema_version must be an integer, got '2'"
    assert (entry.event_id, entry.payload, entry.attempts, entry.handlers) == (envelope.event_id, {"user_id": 1}, 1, ())


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({"id": "x"}, b"[]", "refused: not a task message (no 'task' header)"),
        ({"id": "x", "task": "other.task"}, b"[]", "refused: unknown task 'other.task'"),
        ({"id": "x", "task": TASK_NAME}, b"\xff not json", "refused: undecodable body: "),
        ({"id": "x", "task": TASK_NAME}, b'{"a": 1}', "refused: the body is not a Celery task message"),
        ({"id": "x", "task": TASK_NAME}, b'[["{}"], {"queue": "q"}, {}]', "decode: unknown task arguments ['queue']"),
        ({"id": "x", "task": TASK_NAME}, b'[["[1]"], {}, {}]', "decode: payload is JSON list, not an object"),
    ],
)
def test_foreign_messages_are_dead_lettered_with_the_workers_reasons(
    broker: MemoryBroker, router: Router, headers: dict[str, Any], body: bytes, reason: str
) -> None:
    recorder(router, "user.created", [])
    broker.add_service("svc", router=router)
    assert [s.name for s in broker.publish_message(TaskMessage(body, headers, {}), "user.created")] == ["svc"]
    [entry] = broker.dead_letters("svc")
    assert entry.reason.startswith(reason)
    assert entry.event_id == "x"
    assert entry.message is not None
    assert entry.message.body == body


def test_read_task_message_round_trips_what_task_message_encodes() -> None:
    envelope = Envelope.new("order.created", {"id": 1, "items": [{"x": "ü"}]}, correlation_id="c", schema_version=2)
    envelope = dataclasses.replace(envelope, signature="v1:k:abc")
    back = read_task_message(envelope.task_message(), "ignored.key")
    assert (back.routing_key, back.payload, back.body) == (envelope.routing_key, envelope.payload, envelope.body)
    same = ("event_id", "correlation_id", "published_at", "schema_version", "signature")
    assert {name: getattr(back, name) for name in same} == {name: getattr(envelope, name) for name in same}


# --- validation -------------------------------------------------------------------------------------------------------


def test_an_invalid_payload_is_refused_at_publish_and_nothing_is_delivered(
    broker: MemoryBroker, router: Router, catalog: Catalog
) -> None:
    seen: list[Any] = []
    recorder(router, "#", seen)
    broker.add_service("svc", router=router, catalog=catalog)
    with pytest.raises(PayloadValidationError) as info:
        client_for(broker, catalog).publish("user.created", {"user_id": 0})
    assert info.value.errors()[0][0] == "$.user_id"
    assert (seen, broker.published, broker.dead_letters()) == ([], [], [])


def test_an_invalid_payload_is_dead_lettered_at_dispatch(
    broker: MemoryBroker, router: Router, catalog: Catalog
) -> None:
    seen: list[Any] = []
    recorder(router, "user.created", seen)
    broker.add_service("svc", router=router, catalog=catalog)
    client_for(broker, Catalog()).publish("user.created", {"user_id": "seven"})  # a publisher without the schema
    assert seen == []
    [entry] = broker.dead_letters("svc")
    assert entry.reason.startswith("validation: payload for 'user.created' does not match schema of user.created:")
    assert "$.user_id" in entry.reason
    assert entry.payload == {"user_id": "seven"}


# --- handler failures, retries and dead letters -----------------------------------------------------------------------


def test_a_failing_handler_is_dead_lettered_and_the_others_still_run(broker: MemoryBroker, router: Router) -> None:
    seen: list[Any] = []

    def broken(_data: Any) -> None:
        raise ValueError("no mail server")

    router.add("user.created", broken, handler_id="mail")
    recorder(router, "user.#", seen)
    service = broker.add_service("svc", router=router)
    event_id = client_for(broker).publish("user.created", {"user_id": 1})
    assert seen == [("user.#", {"user_id": 1})]
    [entry] = service.dead_letters
    assert entry.reason == (
        f"handler: 1 handler(s) failed for 'user.created' (event {event_id}): mail: ValueError: no mail server"
    )
    assert (entry.handlers, entry.attempts, entry.service, entry.routing_key) == (("mail",), 1, "svc", "user.created")
    assert service.handled == []


def test_retries_run_only_the_failing_handler_and_count_attempts(broker: MemoryBroker, router: Router) -> None:
    runs: list[tuple[str, int]] = []

    def flaky(_data: Any) -> None:
        runs.append(("flaky", current_event().attempt))
        if current_event().attempt < 3:
            raise ConnectionError("later")

    router.add("job.run", flaky, handler_id="flaky", retry=RetryPolicy(max_retries=3, backoff=0.5))
    router.add("job.#", lambda _d: runs.append(("steady", current_event().attempt)), handler_id="steady")
    service = broker.add_service("svc", router=router)
    started = time.monotonic()
    client_for(broker).publish("job.run", {})
    assert time.monotonic() - started < 0.4  # no sleeping by default
    assert runs == [("flaky", 1), ("steady", 1), ("flaky", 2), ("flaky", 3)]
    assert [(r.handlers, r.attempt, r.delay) for r in service.retries] == [(("flaky",), 2, 0.5), (("flaky",), 3, 1.0)]
    assert service.dead_letters == []
    assert [d.handlers for d in service.handled] == [("flaky",)]


def test_exhausted_retries_are_dead_lettered_with_the_attempts(broker: MemoryBroker, router: Router) -> None:
    def always(_data: Any) -> None:
        raise ConnectionError("down")

    router.add("job.run", always, handler_id="always", retry=RetryPolicy(max_retries=2))
    service = broker.add_service("svc", router=router)
    client_for(broker).publish("job.run", {})
    assert [r.attempt for r in service.retries] == [2, 3]
    [entry] = service.dead_letters
    assert (entry.handlers, entry.attempts) == (("always",), 3)
    assert entry.reason.startswith("handler: 1 handler(s) failed for 'job.run'")


def test_a_failure_outside_autoretry_for_is_dead_lettered_at_once(broker: MemoryBroker, router: Router) -> None:
    def wrong(_data: Any) -> None:
        raise KeyError("id")

    router.add("job.run", wrong, handler_id="wrong", retry=RetryPolicy(retry_for=(ConnectionError,)))
    service = broker.add_service("svc", router=router)
    client_for(broker).publish("job.run", {})
    assert service.retries == []
    assert [e.attempts for e in service.dead_letters] == [1]


def test_sleep_waits_each_backoff_before_the_retry(router: Router) -> None:
    waited: list[float] = []
    broker = MemoryBroker(sleep=waited.append)

    def failing(_data: Any) -> None:
        raise ConnectionError("down")

    router.add("job.run", failing, handler_id="f", retry=RetryPolicy(max_retries=2, backoff=0.25))
    broker.add_service("svc", router=router)
    client_for(broker).publish("job.run", {})
    assert waited == [0.25, 0.5]


def test_a_binding_without_handler_dead_letters_with_no_handler(broker: MemoryBroker, router: Router) -> None:
    recorder(router, "user.created", [])
    service = broker.add_service("svc", router=router)
    service.bind("order.#")  # left by an earlier deployment, or a manual configuration
    event_id = client_for(broker).publish("order.created", {"order_id": 1})
    [entry] = service.dead_letters
    assert entry.reason.startswith(f"no handler: no handler matches 'order.created' (event {event_id})")


def test_reasons_are_cut_to_the_workers_length(broker: MemoryBroker, router: Router) -> None:
    def loud(_data: Any) -> None:
        raise ValueError("x" * 5000)

    router.add("job.run", loud, handler_id="loud")
    broker.add_service("svc", router=router)
    client_for(broker).publish("job.run", {})
    assert len(broker.dead_letters("svc")[0].reason) == MAX_REASON


def test_the_idempotency_guard_skips_completed_handlers(broker: MemoryBroker, router: Router) -> None:
    guard = MemoryIdempotency()
    seen: list[Any] = []
    recorder(router, "user.created", seen)
    broker.add_service("svc", router=router, idempotency=guard)
    envelope = Envelope.new("user.created", {"user_id": 1})
    broker.transport().send(envelope)
    broker.transport().send(envelope)  # the same event id again, as a redelivery
    assert len(seen) == 1
    assert guard.completed("seen:user.created", envelope.event_id)


# --- signing ----------------------------------------------------------------------------------------------------------


def test_a_signing_service_handles_signed_events(broker: MemoryBroker, router: Router) -> None:
    seen: list[Any] = []
    recorder(router, "user.created", seen)
    broker.add_service("svc", router=router, signer=Signer({"k1": KEY_A}))
    client_for(broker, signer=Signer({"k1": KEY_A})).publish("user.created", {"user_id": 1})
    assert len(seen) == 1
    assert broker.dead_letters("svc") == []


@pytest.mark.parametrize(
    ("publisher", "reason"),
    [
        (None, "is not signed, and this service requires signed events"),
        (Signer({"k2": KEY_B}), "is signed with key 'k2', which this service does not accept"),
        (Signer({"k1": KEY_B}), "does not match its signature (key 'k1')"),
    ],
)
def test_unsigned_or_wrongly_signed_events_are_dead_lettered(
    broker: MemoryBroker, router: Router, publisher: Signer | None, reason: str
) -> None:
    seen: list[Any] = []
    recorder(router, "user.created", seen)
    broker.add_service("svc", router=router, signer=Signer({"k1": KEY_A}))
    client_for(broker, signer=publisher).publish("user.created", {"user_id": 1})
    assert seen == []
    [entry] = broker.dead_letters("svc")
    assert entry.reason.startswith("signature: event ")
    assert reason in entry.reason


# --- unroutable events ------------------------------------------------------------------------------------------------


def test_an_unroutable_event_is_logged_by_default(broker: MemoryBroker, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tchu.publish"):
        event_id = client_for(broker).publish("nobody.listens", {})
    assert [r.getMessage() for r in caplog.records] == [
        f"no queue is bound to 'nobody.listens': event {event_id} reached no service"
    ]
    assert [e.event_id for e in broker.published] == [event_id]


def test_an_unroutable_event_raises_when_asked(broker: MemoryBroker) -> None:
    with pytest.raises(UnroutableError, match="reached no service"):
        client_for(broker, unroutable="raise").publish("nobody.listens", {})


def test_an_unroutable_event_is_ignored_when_asked(broker: MemoryBroker, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="tchu.publish"):
        client_for(broker, unroutable="ignore").publish("nobody.listens", {})
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_batch_delivers_every_routable_event_before_raising_for_the_unroutable(
    broker: MemoryBroker, router: Router
) -> None:
    seen: list[Any] = []
    recorder(router, "user.*", seen)
    broker.add_service("svc", router=router)
    client = client_for(broker, unroutable="raise")
    with pytest.raises(UnroutableError, match=r"nobody\.listens"):
        client.publish_many([("user.created", {"n": 1}), ("nobody.listens", {}), ("user.deleted", {"n": 2})])
    assert seen == [("user.*", {"n": 1}), ("user.*", {"n": 2})]


def test_unroutable_must_be_a_known_setting(broker: MemoryBroker) -> None:
    with pytest.raises(SetupError, match="unroutable must be"):
        broker.transport(unroutable="drop")  # type: ignore[arg-type]


# --- RPC --------------------------------------------------------------------------------------------------------------


def test_a_call_returns_the_responders_reply(broker: MemoryBroker, router: Router, catalog: Catalog) -> None:
    seen: list[Any] = []

    @router.respond("order.calculate_total")
    def total(data: dict[str, Any]) -> dict[str, Any]:
        seen.append(current_event().routing_key)
        return {"total": 2.5 * len(data["items"])}

    broker.add_service("billing", router=router, catalog=catalog)
    assert client_for(broker, catalog).call("order.calculate_total", {"items": [1, 2]}) == {"total": 5.0}
    assert seen == ["order.calculate_total"]
    assert [c.routing_key for c in broker.calls] == ["order.calculate_total"]
    assert broker.published == []  # a call never goes through the exchange


def test_a_call_reaches_only_the_responder_never_a_hash_listener(broker: MemoryBroker, router: Router) -> None:
    listener = Router()
    seen: list[Any] = []
    recorder(listener, "#", seen)
    router.respond("user.validate")(lambda data: {"valid": True, "email": data["email"]})
    broker.add_service("analytics", router=listener)
    broker.add_service("users", router=router)
    assert client_for(broker).call("user.validate", {"email": "a@example.com"}) == {
        "valid": True,
        "email": "a@example.com",
    }
    assert seen == []


def test_a_responders_exception_becomes_a_remote_error(broker: MemoryBroker, router: Router) -> None:
    def broken(_data: Any) -> Any:
        raise LookupError("no such order")

    router.respond("order.calculate_total")(broken)
    broker.add_service("billing", router=router)
    with pytest.raises(RemoteError) as info:
        client_for(broker).call("order.calculate_total", {"items": []})
    assert (info.value.remote_type, info.value.remote_message) == ("LookupError", "no such order")
    assert isinstance(info.value.__cause__, LookupError)


def test_a_reply_that_fails_its_schema_is_a_remote_validation_error(
    broker: MemoryBroker, router: Router, catalog: Catalog
) -> None:
    router.respond("order.calculate_total")(lambda _data: {"total": "lots"})
    broker.add_service("billing", router=router, catalog=catalog)
    with pytest.raises(RemoteError) as info:
        client_for(broker, catalog).call("order.calculate_total", {"items": []})
    assert info.value.remote_type == "PayloadValidationError"


def test_the_caller_checks_the_reply_against_its_own_catalog(
    broker: MemoryBroker, router: Router, catalog: Catalog
) -> None:
    router.respond("order.calculate_total")(lambda _data: {"total": "lots"})
    broker.add_service("billing", router=router, catalog=Catalog())  # a responder that does not know the schema
    with pytest.raises(PayloadValidationError, match=r"\$\.total"):
        client_for(broker, catalog).call("order.calculate_total", {"items": []})


def test_a_call_nobody_answers_raises_no_responder(broker: MemoryBroker, router: Router) -> None:
    recorder(router, "user.#", [])
    broker.add_service("svc", router=router)
    with pytest.raises(NoResponderError, match=r"no service responds to 'user\.validate'"):
        client_for(broker).call("user.validate", {"email": "a@example.com"})


def test_an_invalid_request_is_refused_before_it_is_sent(
    broker: MemoryBroker, router: Router, catalog: Catalog
) -> None:
    router.respond("order.calculate_total")(lambda _data: {"total": 1})
    broker.add_service("billing", router=router, catalog=catalog)
    with pytest.raises(PayloadValidationError):
        client_for(broker, catalog).call("order.calculate_total", {"items": "none"})
    assert broker.calls == []


def test_a_slow_responder_times_the_call_out(broker: MemoryBroker, router: Router) -> None:
    router.respond("order.calculate_total")(lambda _data: time.sleep(0.05) or {"total": 1})
    broker.add_service("billing", router=router)
    with pytest.raises(RPCTimeoutError):
        client_for(broker).call("order.calculate_total", {"items": []}, timeout=0.01)


def test_a_signing_responder_refuses_unsigned_calls(broker: MemoryBroker, router: Router) -> None:
    router.respond("order.calculate_total")(lambda _data: {"total": 1})
    broker.add_service("billing", router=router, signer=Signer({"k1": KEY_A}))
    with pytest.raises(RemoteError) as info:
        client_for(broker).call("order.calculate_total", {"items": []})
    assert info.value.remote_type == "SignatureError"
    signed = client_for(broker, signer=Signer({"k1": KEY_A}))
    assert signed.call("order.calculate_total", {"items": []}) == {"total": 1}  # a signed reply, checked


def test_a_signing_caller_refuses_an_unsigned_reply(broker: MemoryBroker, router: Router) -> None:
    router.respond("order.calculate_total")(lambda _data: {"total": 1})
    broker.add_service("billing", router=router)  # no signer: its replies are plain
    with pytest.raises(RPCError, match="is not signed, and this client requires signed replies"):
        client_for(broker, signer=Signer({"k1": KEY_A})).call("order.calculate_total", {"items": []})


def test_the_first_responding_service_answers(broker: MemoryBroker) -> None:
    first, second = Router(), Router()
    first.respond("user.validate")(lambda _data: {"by": "first"})
    second.respond("user.validate")(lambda _data: {"by": "second"})
    broker.add_service("a", router=first)
    broker.add_service("b", router=second)
    assert client_for(broker).call("user.validate", {}) == {"by": "first"}


# --- delivery order, context and eager mode ---------------------------------------------------------------------------


def test_events_published_by_a_handler_follow_it_with_its_correlation_id(broker: MemoryBroker, router: Router) -> None:
    order: list[str] = []
    client = client_for(broker)

    def on_created(_data: Any) -> None:
        order.append("created: start")
        client.publish("user.welcomed", {})
        order.append("created: end")

    router.add("user.created", on_created, handler_id="created")
    router.add("user.welcomed", lambda _d: order.append(f"welcomed {current_event().correlation_id}"), handler_id="w")
    broker.add_service("svc", router=router)
    client.publish("user.created", {}, correlation_id="chain-1")
    assert order == ["created: start", "created: end", "welcomed chain-1"]
    assert [e.correlation_id for e in broker.published] == ["chain-1", "chain-1"]


def test_without_eager_deliveries_wait_for_drain(router: Router) -> None:
    broker = MemoryBroker(eager=False)
    seen: list[Any] = []
    recorder(router, "user.*", seen)
    broker.add_service("svc", router=router)
    client = client_for(broker)
    client.publish("user.created", {"n": 1})
    client.publish("user.deleted", {"n": 2})
    assert (seen, broker.pending) == ([], 2)
    assert broker.drain() == 2
    assert [d for _, d in seen] == [{"n": 1}, {"n": 2}]
    assert broker.pending == 0


def test_removing_a_service_drops_its_queue(router: Router) -> None:
    broker = MemoryBroker(eager=False)
    recorder(router, "#", [])
    broker.add_service("svc", router=router)
    client_for(broker).publish("user.created", {})
    broker.remove_service("svc")
    assert (broker.pending, broker.drain()) == (0, 0)


def test_clear_forgets_records_but_keeps_services(broker: MemoryBroker, router: Router) -> None:
    router.add("job.#", lambda _d: 1 / 0, handler_id="zero")
    broker.add_service("svc", router=router)
    client_for(broker).publish("job.run", {})
    assert broker.dead_letters("svc")
    broker.clear()
    assert (broker.published, broker.dead_letters()) == ([], [])
    assert list(broker.services) == ["svc"]


# --- set-up -----------------------------------------------------------------------------------------------------------


def test_add_service_imports_handler_modules(
    broker: MemoryBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "memory_handlers_probe.py"
    module.write_text(
        "from tchu.router import Router\n"
        "router = Router()\n"
        "seen = []\n"
        "router.add('user.#', seen.append, handler_id='probe')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "memory_handlers_probe", raising=False)
    service = broker.add_service("svc", handlers=["memory_handlers_probe"], router=Router())
    probe = sys.modules["memory_handlers_probe"]
    assert service.bindings() == []  # the module registered on its own router, not the service's
    broker.add_service("probe", router=probe.router)
    client_for(broker).publish("user.created", {"n": 1})
    assert probe.seen == [{"n": 1}]


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("", {}, "service name must be a non-empty string"),
        ("svc", {"handlers": ["no_such_handlers_module"]}, "cannot import handler module 'no_such_handlers_module'"),
    ],
)
def test_add_service_refuses_a_bad_set_up(
    broker: MemoryBroker, name: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(SetupError, match=message):
        broker.add_service(name, **options)


def test_service_names_are_unique(broker: MemoryBroker) -> None:
    broker.add_service("svc", router=Router())
    with pytest.raises(SetupError, match="already has a service 'svc'"):
        broker.add_service("svc", router=Router())
    with pytest.raises(SetupError, match="no service 'other'"):
        broker.service("other")


def test_names_and_limits_match_the_celery_worker() -> None:
    from tchu._celery import worker  # noqa: PLC0415 -- the comparison needs the Celery side
    from tchu._celery.common import RPC_TASK_NAME as CELERY_RPC_TASK_NAME  # noqa: PLC0415

    assert RPC_TASK_NAME == CELERY_RPC_TASK_NAME
    assert MAX_REASON == worker.MAX_REASON
    source = Path(worker.__file__).read_text(encoding="utf-8")
    for prefix in ("decode", "handler"):
        assert f'reason=f"{prefix}: {{exc}}"' in source, prefix
    # refusals before any handler: both dead-letter them with the dispatcher's one mapping
    from tchu import dispatch  # noqa: PLC0415
    from tchu.memory import _broker  # noqa: PLC0415

    assert worker.rejection is _broker.rejection is dispatch.rejection
    assert worker.REJECTED is _broker.REJECTED is dispatch.REJECTED
    refusals = [
        SignatureError("not signed"),
        PayloadValidationError("user.created", "schemas/user.created.json", [FieldProblem("$.x", "bad")]),
        NoHandlerError("user.created", "evt-1"),
    ]
    assert [dispatch.rejection(exc)[1].split(":")[0] for exc in refusals] == ["signature", "validation", "no handler"]
    assert all(isinstance(exc, dispatch.REJECTED) for exc in refusals)


def test_the_memory_module_imports_no_celery() -> None:
    import subprocess  # noqa: PLC0415

    code = (
        "import sys, tchu.memory, tchu.testing\n"
        "print(sorted(m for m in ('celery', 'kombu', 'pytest') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
