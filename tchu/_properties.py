"""AMQP message properties encoded directly for the values tchu sends, byte for byte as py-amqp encodes them.

py-amqp serializes a message's properties (its headers included) with one general encoder for every AMQP type;
on a publish it is the largest cost after the socket write. :class:`Message` encodes strings, booleans and
32-bit integers itself and hands anything else (floats, nested tables, timestamps, overlong strings) to
py-amqp's encoder, so what goes on the wire never depends on which encoder ran. At import both encode a sample
message; should a py-amqp release ever encode it differently, the direct encoder is not used.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import amqp

_U16 = struct.Struct(">H").pack
_U32 = struct.Struct(">I").pack
_I32 = struct.Struct(">i").pack
_SHORTSTR_MAX = 255
_I32_MAX = 2_147_483_647  # py-amqp writes larger magnitudes as 64-bit ('L')
_FLAG_BITS = 15  # property flags per 16-bit word; the last bit says another word follows


class _Unsupported(Exception):  # noqa: N818 -- a signal to fall back, never raised to a caller
    """A value the direct encoder leaves to py-amqp's."""


def _shortstr(value: Any) -> bytes:
    if type(value) is not str:
        raise _Unsupported
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) > _SHORTSTR_MAX:
        raise _Unsupported  # py-amqp raises its own error for it
    return bytes((len(raw),)) + raw


def _table(headers: Any) -> bytes:
    if type(headers) is not dict:
        raise _Unsupported
    parts: list[bytes] = []
    for key, value in headers.items():
        parts.append(_shortstr(key))
        kind = type(value)
        if kind is str:
            raw = value.encode("utf-8", "surrogatepass")
            parts.append(b"S" + _U32(len(raw)) + raw)
        elif kind is bool:
            parts.append(b"t\x01" if value else b"t\x00")
        elif kind is int and -_I32_MAX <= value <= _I32_MAX:
            parts.append(b"I" + _I32(value))
        else:
            raise _Unsupported
    data = b"".join(parts)
    return _U32(len(data)) + data


def _octet(value: Any) -> bytes:
    if type(value) is not int or not 0 <= value <= 255:  # noqa: PLR2004 -- one octet
        raise _Unsupported
    return bytes((value,))


_ENCODERS = {"s": _shortstr, "F": _table, "o": _octet}
_ORDER: list[tuple[str, str]] = list(amqp.Message.PROPERTIES)


def encode_properties(properties: Mapping[str, Any]) -> bytes:
    """The property flags and property list of a basic message, as py-amqp encodes them.

    Raises:
        _Unsupported: a value the direct encoder does not take; py-amqp's encoder must be used.
    """
    flags = 0
    parts: list[bytes] = []
    bit = 1 << _FLAG_BITS
    for name, kind in _ORDER:
        value = properties.get(name)
        if value is not None:
            encoder = _ENCODERS.get(kind)
            if encoder is None:
                raise _Unsupported
            flags |= bit
            parts.append(encoder(value))
        bit >>= 1
    return _U16(flags) + b"".join(parts)


class Message(amqp.Message):  # type: ignore[misc]  # py-amqp has no type hints
    """py-amqp's basic message with :func:`encode_properties` (py-amqp's own encoder for what it does not take)."""

    def _serialize_properties(self) -> bytes:
        if DIRECT:
            try:
                return encode_properties(self.properties)
            except _Unsupported:
                pass
        return bytes(super()._serialize_properties())


def _agrees() -> bool:
    """Whether both encoders give the same bytes for a message like tchu's (with every kind the direct one takes)."""
    sample = {
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "application_headers": {
            "task": "tchu_tchu.dispatch_event",
            "id": "0b4f6c1e-5d2a-4e8b-9c3d-7a1f2e3d4c5b",
            "ignore_result": True,
            "retry": False,
            "tchu_schema_version": 3,
            "negative": -2_147_483_647,
            "text": "é ✓ \x00",
        },
        "delivery_mode": 2,
        "correlation_id": "c",
        "reply_to": "r",
        "expiration": "1000",
    }
    if len(_ORDER) > _FLAG_BITS:  # a second flags word: not what the direct encoder writes
        return False
    try:
        generic = amqp.Message(b"", **sample)._serialize_properties()  # noqa: SLF001 -- the encoder compared with
        return encode_properties(sample) == bytes(generic)
    except _Unsupported:
        return False


DIRECT = _agrees()
