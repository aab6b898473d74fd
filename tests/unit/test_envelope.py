"""The envelope: encoding payloads, the tchu-tchu 2.x wire format, and the one decode point."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from tchu import envelope as envelope_module
from tchu.envelope import (
    HEADER_CORRELATION_ID,
    HEADER_EVENT_ID,
    HEADER_PUBLISHED_AT,
    HEADER_SCHEMA_VERSION,
    LEGACY_META_KEY,
    TASK_NAME,
    Envelope,
)
from tchu.errors import InvalidRoutingKeyError, MessageDecodeError, PayloadError

KEY = "user.created"


class UserCreated(BaseModel):
    user_id: int
    email: str
    tags: list[str] = []


def wire(envelope: Envelope, **kwargs: Any) -> tuple[list[Any], dict[str, Any], dict[str, Any], Any]:
    """Encode ``envelope`` and split the protocol-2 body as a Celery worker would."""
    message = envelope.task_message(**kwargs)
    args, task_kwargs, embed = json.loads(message.body)
    return args, task_kwargs, embed, message


def redeliver(envelope: Envelope) -> Envelope:
    """Encode ``envelope`` and decode what a worker would receive."""
    args, task_kwargs, _, message = wire(envelope)
    return Envelope.decode(args[0], task_kwargs["routing_key"], message.headers, message.headers["id"])


# ---------------------------------------------------------------------------------------------- encoding


def test_new_encodes_a_dict() -> None:
    env = Envelope.new(KEY, {"user_id": 1, "email": "a@example.com"})
    assert env.routing_key == KEY
    assert env.payload == {"user_id": 1, "email": "a@example.com"}
    assert json.loads(env.body) == env.payload


def test_new_encodes_a_pydantic_model() -> None:
    env = Envelope.new(KEY, UserCreated(user_id=7, email="b@example.com", tags=["x"]))
    assert env.payload == {"user_id": 7, "email": "b@example.com", "tags": ["x"]}
    assert json.loads(env.body) == env.payload


@pytest.mark.parametrize("data", ['{"user_id": 3, "email": "c@x"}', b'{"user_id": 3, "email": "c@x"}'])
def test_new_accepts_a_json_object_as_str_or_bytes(data: str | bytes) -> None:
    env = Envelope.new(KEY, data)
    assert env.payload == {"user_id": 3, "email": "c@x"}
    assert isinstance(env.body, str)
    assert json.loads(env.body) == env.payload


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([1, 2], "must be a mapping or model, got list"),
        ("[1, 2]", "must be a JSON object, got list"),
        (b'"text"', "must be a JSON object, got str"),
        ("hello", "is a string but not JSON"),
        (b"\xff\xfe\xfa", "is a string but not JSON"),
        (42, "must be a mapping or model, got int"),
        (None, "must be a mapping or model, got NoneType"),
    ],
)
def test_new_rejects_non_objects_naming_the_routing_key(data: object, fragment: str) -> None:
    with pytest.raises(PayloadError) as info:
        Envelope.new("order.created", data)
    assert "'order.created'" in str(info.value)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        {"price": float("nan")},
        {"price": float("inf")},
        {"nested": {"v": -float("inf")}},
        {"amount": decimal.Decimal("NaN")},
    ],
)
def test_new_rejects_nan_and_infinity(data: dict[str, Any]) -> None:
    with pytest.raises(PayloadError, match=r"'order\.created'"):
        Envelope.new("order.created", data)


@pytest.mark.parametrize("data", ['{"price": NaN}', b'{"price": Infinity}'])
def test_new_rejects_nan_in_json_text(data: str | bytes) -> None:
    with pytest.raises(PayloadError, match=r"'order\.created'"):
        Envelope.new("order.created", data)


def test_json_bytes_with_a_bom_make_a_decodable_body() -> None:
    env = Envelope.new(KEY, b'\xef\xbb\xbf{"user_id": 1}')
    assert redeliver(env).payload == {"user_id": 1}


def test_utf16_json_bytes_raise_payload_error_or_encode() -> None:
    try:
        env = Envelope.new(KEY, '{"user_id": 1}'.encode("utf-16"))
    except PayloadError:
        return
    assert redeliver(env).payload == {"user_id": 1}


class Opaque:
    pass


@pytest.mark.parametrize("data", [{"x": Opaque()}, {"x": {"y": [object()]}}, {"when": dt.timedelta(1)}])
def test_new_rejects_values_json_cannot_carry(data: dict[str, Any]) -> None:
    with pytest.raises(PayloadError, match="cannot be encoded as JSON") as info:
        Envelope.new("order.created", data)
    assert "'order.created'" in str(info.value)
    assert isinstance(info.value.__cause__, TypeError)


def test_new_rejects_keys_json_cannot_carry() -> None:
    # a tuple cannot be a JSON object key
    with pytest.raises(PayloadError):
        Envelope.new(KEY, {(1, 2): "x"})


def test_new_converts_values_like_tchu_tchu_2_2_3() -> None:
    uid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    env = Envelope.new(
        KEY,
        {
            "id": uid,
            "at": when,
            "day": dt.date(2024, 5, 6),
            "clock": dt.time(7, 8, 9),
            "price": decimal.Decimal("12.50"),
            "tags": {"b", "a", "c"},
            "frozen": frozenset({3}),
            "raw": b"bytes",
            "model": UserCreated(user_id=1, email="m@x"),
        },
    )
    assert env.payload == {
        "id": "12345678-1234-5678-1234-567812345678",
        "at": "2024-05-06T07:08:09.123456+00:00",
        "day": "2024-05-06",
        "clock": "07:08:09",
        "price": 12.5,
        "tags": ["a", "b", "c"],
        "frozen": [3],
        "raw": "bytes",
        "model": {"user_id": 1, "email": "m@x", "tags": []},
    }
    assert json.loads(env.body) == env.payload


def test_set_encoding_is_deterministic() -> None:
    one = Envelope.new(KEY, {"s": {10, 2, 1, "x"}}).body
    two = Envelope.new(KEY, {"s": {"x", 1, 2, 10}}).body
    assert one == two
    assert sorted(json.loads(one)["s"], key=str) == [1, 10, 2, "x"]


@pytest.mark.parametrize("data", [MappingProxyType({"user_id": 1}), {"outer": MappingProxyType({"a": 1})}])
def test_new_encodes_any_mapping(data: Mapping[str, Any]) -> None:
    env = Envelope.new(KEY, data)
    assert json.loads(env.body) == env.payload
    assert env.payload in ({"user_id": 1}, {"outer": {"a": 1}})


def test_new_validates_the_routing_key() -> None:
    for bad in ["", "user.*", "user..created", "#"]:
        with pytest.raises(InvalidRoutingKeyError):
            Envelope.new(bad, {})


def test_event_ids_are_unique_and_correlation_defaults_to_the_event_id() -> None:
    envelopes = [Envelope.new(KEY, {"i": i}) for i in range(200)]
    ids = [e.event_id for e in envelopes]
    assert len(set(ids)) == len(ids)
    for env in envelopes:
        assert uuid.UUID(env.event_id).version == 4
        assert env.correlation_id == env.event_id


def test_explicit_ids_and_version_are_kept() -> None:
    env = Envelope.new(KEY, {}, correlation_id="corr-1", schema_version=3, event_id="ev-1")
    assert (env.event_id, env.correlation_id, env.schema_version) == ("ev-1", "corr-1", 3)


def test_published_at_is_utc_iso_8601() -> None:
    before = dt.datetime.now(dt.UTC)
    env = Envelope.new(KEY, {})
    stamp = dt.datetime.fromisoformat(env.published_at)
    assert stamp.utcoffset() == dt.timedelta(0)
    assert before <= stamp <= dt.datetime.now(dt.UTC)


@settings(max_examples=300)
@given(st.lists(st.floats(min_value=0, max_value=4_000_000_000), min_size=1, max_size=5))
def test_timestamps_are_those_of_datetime_to_the_microsecond(moments: list[float]) -> None:
    for moment in moments:  # several in a row: the text of the last whole second is reused or replaced
        with mock.patch("tchu.envelope.time.time", return_value=moment):
            text = envelope_module.utc_now()
        stamp = dt.datetime.fromisoformat(text)
        assert text.endswith("+00:00")
        assert len(text) == len("2026-11-25T01:55:33.123456+00:00")
        assert stamp.replace(microsecond=0) == dt.datetime.fromtimestamp(int(moment), dt.UTC)
        assert abs(stamp.timestamp() - moment) < 1e-6 + 1e-9 * moment  # truncated, within float precision


def test_new_ids_are_distinct_version_4_uuids_in_canonical_form() -> None:
    ids = [envelope_module.new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


def test_envelope_is_frozen() -> None:
    env = Envelope.new(KEY, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.event_id = "other"  # type: ignore[misc]


# ------------------------------------------------------------------------------------------- wire format


def test_task_message_is_a_celery_protocol_2_body_with_only_the_payload() -> None:
    env = Envelope.new(KEY, {"user_id": 1, "email": "a@example.com"}, schema_version=2)
    args, task_kwargs, embed, _ = wire(env)
    assert task_kwargs == {"routing_key": KEY}
    assert len(args) == 1
    assert isinstance(args[0], str)
    assert json.loads(args[0]) == {"user_id": 1, "email": "a@example.com"}
    assert embed == {}  # Celery reads each of callbacks, errbacks, chain and chord with .get(): None


@pytest.mark.parametrize(
    "payload",
    [{"a": 1}, {"text": 'é "quoted" \\ back\nslash \u2028 \U0001f600 \x00'}, {"k.e.y": [None, True, 1.5e300]}],
)
def test_task_message_body_is_exactly_json_dumps_of_args_kwargs_and_embed(payload: dict[str, Any]) -> None:
    env = Envelope.new(KEY, payload)
    expected = json.dumps([[env.body], {"routing_key": KEY}, {}], separators=(",", ":")).encode()
    assert env.task_message().body == expected


def test_task_message_headers_name_the_dispatcher_task_and_carry_tchu_metadata() -> None:
    env = Envelope.new(KEY, {"a": 1}, correlation_id="corr-7", schema_version=4)
    message = env.task_message()
    headers = message.headers
    assert headers["task"] == TASK_NAME == "tchu_tchu.dispatch_event"
    assert headers["id"] == env.event_id
    assert "root_id" not in headers  # Celery falls back to the task id
    assert "lang" not in headers  # Celery's workers never read it
    assert headers["ignore_result"] is True
    assert HEADER_EVENT_ID not in headers  # the task id is the event id
    assert headers[HEADER_CORRELATION_ID] == "corr-7"
    assert headers[HEADER_PUBLISHED_AT] == env.published_at
    assert headers[HEADER_SCHEMA_VERSION] == 4
    assert message.properties == {}  # nobody replies to an event: no correlation id for a result backend


def test_task_message_omits_the_version_header_when_there_is_none() -> None:
    headers = Envelope.new(KEY, {}).task_message().headers
    assert HEADER_SCHEMA_VERSION not in headers


def test_a_correlation_id_equal_to_the_event_id_is_not_repeated_and_reads_back_the_same() -> None:
    env = Envelope.new(KEY, {"a": 1})
    assert env.correlation_id == env.event_id
    message = env.task_message()
    assert HEADER_CORRELATION_ID not in message.headers
    args, task_kwargs, _, _ = wire(env)
    back = Envelope.decode(args[0], task_kwargs["routing_key"], message.headers, message.headers["id"])
    assert (back.event_id, back.correlation_id) == (env.event_id, env.event_id)


def test_task_message_for_a_call_asks_for_the_result() -> None:
    env = Envelope.new(KEY, {})
    message = env.task_message(task_name="tchu.rpc.user.created", task_id="t-1", reply_to="reply-q")
    assert message.headers["task"] == "tchu.rpc.user.created"
    assert Envelope.decode(env.body, KEY, message.headers, "t-1").event_id == env.event_id
    assert message.headers["id"] == "t-1"
    assert message.headers["ignore_result"] is False
    assert message.properties == {"correlation_id": "t-1", "reply_to": "reply-q"}
    assert message.headers[HEADER_EVENT_ID] == env.event_id


def test_body_of_a_json_string_payload_is_that_payload() -> None:
    args, task_kwargs, _, _ = wire(Envelope.new(KEY, '{"z": 1, "a": [true, null]}'))
    assert task_kwargs == {"routing_key": KEY}
    assert json.loads(args[0]) == {"z": 1, "a": [True, None]}


# ------------------------------------------------------------------------------------------------ decode


def test_decode_round_trips() -> None:
    env = Envelope.new(KEY, {"user_id": 1, "nested": {"x": [1, 2.5, "é"]}}, correlation_id="c", schema_version=2)
    back = redeliver(env)
    assert back.routing_key == KEY
    assert back.payload == env.payload
    assert back.event_id == env.event_id
    assert back.correlation_id == "c"
    assert back.published_at == env.published_at
    assert back.schema_version == 2
    assert dict(back.headers) == env.tchu_headers()


def test_decode_strips_the_tchu_tchu_3_meta_key() -> None:
    body = json.dumps({"user_id": 1, LEGACY_META_KEY: {"is_rpc": False}})
    env = Envelope.decode(body, KEY, {}, "task-1")
    assert env.payload == {"user_id": 1}


def test_decoded_body_matches_the_stripped_payload() -> None:
    body = json.dumps({"user_id": 1, LEGACY_META_KEY: {"is_rpc": False}})
    env = Envelope.decode(body, KEY, {}, "task-1")
    assert json.loads(env.body) == env.payload


def test_decode_of_a_legacy_message_uses_the_task_id_as_event_id() -> None:
    env = Envelope.decode('{"user_id": 1}', KEY, {}, "celery-task-id")
    assert env.event_id == "celery-task-id"
    assert env.correlation_id == "celery-task-id"
    assert env.published_at == ""
    assert env.schema_version is None
    assert dict(env.headers) == {}


def test_decode_accepts_bytes_and_an_unencoded_dict() -> None:
    assert Envelope.decode(b'{"a": 1}', KEY, {}, "t").payload == {"a": 1}
    from_dict = Envelope.decode({"a": 1, LEGACY_META_KEY: {}}, KEY, {}, "t")
    assert from_dict.payload == {"a": 1}
    assert json.loads(from_dict.body) == {"a": 1}


def test_decode_keeps_only_tchu_headers() -> None:
    headers = {HEADER_EVENT_ID: "ev", "task": TASK_NAME, "x-other": 1}
    env = Envelope.decode("{}", KEY, headers, "t")
    assert dict(env.headers) == {HEADER_EVENT_ID: "ev"}


@pytest.mark.parametrize(
    ("body", "routing_key", "headers", "fragment"),
    [
        ("not json", KEY, {}, "JSONDecodeError"),
        (b"{", KEY, {}, "JSONDecodeError"),
        ("[1, 2]", KEY, {}, "not an object"),
        ('"text"', KEY, {}, "not an object"),
        ("null", KEY, {}, "not an object"),
        ("{}", None, {}, "routing key"),
        ("{}", "", {}, "routing key"),
        ("{}", "user.*", {}, "wildcard"),
        ("{}", "#", {}, "wildcard"),
        ("{}", KEY, {HEADER_SCHEMA_VERSION: "2"}, HEADER_SCHEMA_VERSION),
        ("{}", KEY, {HEADER_SCHEMA_VERSION: 2.0}, HEADER_SCHEMA_VERSION),
        ("{}", KEY, {HEADER_SCHEMA_VERSION: True}, HEADER_SCHEMA_VERSION),
        ("{}", KEY, {HEADER_EVENT_ID: "x" * 201}, HEADER_EVENT_ID),
        ("{}", KEY, {HEADER_EVENT_ID: ""}, HEADER_EVENT_ID),
        ("{}", KEY, {HEADER_EVENT_ID: 12345}, HEADER_EVENT_ID),
        ("{}", KEY, {HEADER_CORRELATION_ID: ["c"]}, HEADER_CORRELATION_ID),
        ("{}", KEY, {HEADER_PUBLISHED_AT: b"2024"}, HEADER_PUBLISHED_AT),
    ],
)
def test_decode_errors_keep_the_raw_body(body: object, routing_key: object, headers: dict, fragment: str) -> None:
    with pytest.raises(MessageDecodeError) as info:
        Envelope.decode(body, routing_key, headers, "task-1")
    assert fragment in str(info.value)
    assert info.value.raw == body


@pytest.mark.parametrize("body", [42, None, [1], 1.5])
def test_decode_of_a_non_string_body_is_a_decode_error(body: object) -> None:
    with pytest.raises(MessageDecodeError, match="not a JSON string") as info:
        Envelope.decode(body, KEY, {}, "t")
    assert info.value.raw is None


def test_decode_errors_chain_the_cause() -> None:
    with pytest.raises(MessageDecodeError) as info:
        Envelope.decode("{", KEY, {}, "t")
    assert isinstance(info.value.__cause__, json.JSONDecodeError)


def test_event_id_header_of_200_characters_is_accepted() -> None:
    assert Envelope.decode("{}", KEY, {HEADER_EVENT_ID: "e" * 200}, "t").event_id == "e" * 200


# ------------------------------------------------------------------------------------------------ property

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
JSON_OBJECTS = st.dictionaries(st.text(max_size=10).filter(lambda k: k != LEGACY_META_KEY), JSON_VALUES, max_size=6)


@settings(max_examples=300, deadline=None, database=None)
@given(payload=JSON_OBJECTS)
def test_any_json_object_round_trips_through_the_wire(payload: dict[str, Any]) -> None:
    env = Envelope.new(KEY, payload)
    args, task_kwargs, _, message = wire(env)
    assert task_kwargs == {"routing_key": KEY}
    assert json.loads(args[0]) == payload
    back = Envelope.decode(args[0], task_kwargs["routing_key"], message.headers, message.headers["id"])
    assert back.payload == payload
    assert back.event_id == env.event_id
