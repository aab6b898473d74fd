"""tchu's direct encoder of AMQP message properties gives exactly py-amqp's bytes, or leaves the message to it."""

from __future__ import annotations

from typing import Any

import amqp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tchu import _properties
from tchu._properties import Message, encode_properties

TEXT = st.text(max_size=40)
INT64 = st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1)  # what AMQP tables carry
SHORT = st.text(max_size=60)
VALUES = st.one_of(
    TEXT,
    st.booleans(),
    st.integers(min_value=-(2**31), max_value=2**31),
    INT64,  # past 32 bits: py-amqp writes a 64-bit integer
    st.floats(allow_nan=False),
    st.none(),
    st.lists(INT64, max_size=3),
    st.dictionaries(SHORT, INT64, max_size=2),
)
PROPERTIES = st.fixed_dictionaries(
    {},
    optional={
        "content_type": SHORT,
        "content_encoding": SHORT,
        "application_headers": st.dictionaries(SHORT, VALUES, max_size=8),
        "delivery_mode": st.sampled_from([1, 2]),
        "priority": st.integers(min_value=0, max_value=9),
        "correlation_id": SHORT,
        "reply_to": SHORT,
        "expiration": st.integers(min_value=0, max_value=10**9).map(str),
        "message_id": SHORT,
        "timestamp": st.integers(min_value=0, max_value=2**40),
        "type": SHORT,
        "app_id": SHORT,
    },
)


def py_amqp(properties: dict[str, Any]) -> bytes:
    return bytes(amqp.Message(b"", **properties)._serialize_properties())  # noqa: SLF001 -- the reference encoder


def test_the_direct_encoder_is_on_with_this_py_amqp() -> None:
    assert _properties.DIRECT


@settings(max_examples=400)
@given(PROPERTIES)
def test_every_message_encodes_as_py_amqp_encodes_it(properties: dict[str, Any]) -> None:
    assert bytes(Message(b"", **properties)._serialize_properties()) == py_amqp(properties)  # noqa: SLF001


def test_tchus_own_messages_take_the_direct_path() -> None:
    properties = {
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "application_headers": {"task": "t", "id": "i", "ignore_result": True, "tchu_schema_version": 2},
        "delivery_mode": 2,
        "reply_to": "r",
        "correlation_id": "c",
        "expiration": "1000",
    }
    assert encode_properties(properties) == py_amqp(properties)


@pytest.mark.parametrize(
    "headers",
    [{"f": 1.5}, {"n": None}, {"big": 2**40}, {"nested": {"a": 1}}, {"x" * 256: "long key"}, {"b": b"bytes"}],
)
def test_values_it_does_not_take_are_left_to_py_amqp(headers: dict[str, Any]) -> None:
    with pytest.raises(_properties._Unsupported):  # noqa: SLF001 -- the signal Message falls back on
        encode_properties({"application_headers": headers})


def test_a_string_too_long_for_amqp_fails_as_py_amqp_fails() -> None:
    with pytest.raises(Exception) as direct:  # noqa: PT011 -- whatever py-amqp raises, the same
        Message(b"", correlation_id="x" * 256)._serialize_properties()  # noqa: SLF001
    with pytest.raises(type(direct.value)):
        py_amqp({"correlation_id": "x" * 256})


def test_with_the_direct_encoder_off_py_amqps_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_properties, "DIRECT", False)
    monkeypatch.setattr(_properties, "encode_properties", lambda _p: pytest.fail("the direct encoder ran"))
    properties = {"content_type": "application/json", "application_headers": {"a": "b"}}
    assert bytes(Message(b"", **properties)._serialize_properties()) == py_amqp(properties)  # noqa: SLF001
