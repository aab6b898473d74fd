"""Signed events: an HMAC over the payload (the request context travels in it) and the event's identity.

A publisher with a :class:`Signer` adds ``tchu_signature: v1:<key id>:<hex HMAC-SHA256>`` to every event. A
consumer with a signer checks it before any handler runs; an unsigned event (when signatures are required), an
unknown key id or a signature that does not match is refused with :class:`SignatureError`, which the worker
dead-letters. The HMAC covers the routing key, event id, correlation id, publish time and the exact payload JSON,
so neither the payload (with its user/company context) nor the event's identity can be changed, nor a signed
payload replayed under another routing key.

RPC replies: a responder with a signer signs its reply to a signed request. The reply travels as
``{"tchu_reply": <value>, "tchu_reply_signature": "v1:<key id>:<hex>"}``, the HMAC covering the request's routing
key and event id and the value's canonical JSON, so a reply can neither be changed nor given to another request.
A caller with a signer checks it and returns the value; an unsigned reply is refused when signatures are required.
Error replies (the responder raised) are not signed.

Rotation: give every service the new key beside the old one (``keys={"2026-11": new, "2026-05": old}``), then
make publishers sign with the new one (``sign_with="2026-11"``), then remove the old key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from tchu.envelope import Envelope
from tchu.errors import MessageDecodeError, SetupError

VERSION = "v1"
REPLY_KEY = "tchu_reply"
REPLY_SIGNATURE_KEY = "tchu_reply_signature"
_MIN_SECRET_BYTES = 32
_MAX_KEY_ID = 64  # the header stays under the 200 characters a delivered header may have


class SignatureError(MessageDecodeError):
    """An event whose signature is missing (when required), made with an unknown key, or does not match."""


class Signer:
    """Signs published events and checks delivered ones, with any number of accepted keys.

    Args:
        keys: key id -> shared secret (``str`` or ``bytes``, at least 32 bytes). Every key is accepted when
            checking; key ids are words of letters, digits, ``-``, ``_`` and ``.``.
        sign_with: the key id publishers sign with (default: the first of ``keys``).
        required: refuse unsigned events (default). ``False`` lets unsigned events through (while publishers
            move over) but still refuses wrong signatures.

    Raises:
        SetupError: no keys, a short secret, a malformed key id, or ``sign_with`` not among ``keys``.

    Example:
        >>> signer = Signer({"2026-11": os.environ["TCHU_SIGNING_KEY"]})
    """

    def __init__(self, keys: Mapping[str, str | bytes], *, sign_with: str | None = None, required: bool = True) -> None:
        if not keys:
            raise SetupError("Signer needs at least one key: {key_id: secret}")
        self._keys: dict[str, bytes] = {}
        for key_id, secret in keys.items():
            if not 0 < len(key_id) <= _MAX_KEY_ID or not all(c.isalnum() or c in "-_." for c in key_id):
                raise SetupError(
                    f"signing key id {key_id!r} must be a word of up to {_MAX_KEY_ID} letters, digits, '-', '_' or '.'"
                )
            raw = secret.encode() if isinstance(secret, str) else bytes(secret)
            if len(raw) < _MIN_SECRET_BYTES:
                raise SetupError(
                    f"signing key {key_id!r} is {len(raw)} bytes; use at least {_MIN_SECRET_BYTES} random bytes"
                )
            self._keys[key_id] = raw
        self.sign_with = sign_with if sign_with is not None else next(iter(self._keys))
        if self.sign_with not in self._keys:
            raise SetupError(f"sign_with {self.sign_with!r} is not one of the keys {sorted(self._keys)}")
        self.required = required

    def __repr__(self) -> str:  # never the secrets
        return f"Signer(keys={sorted(self._keys)}, sign_with={self.sign_with!r}, required={self.required})"

    def sign(self, envelope: Envelope) -> str:
        """The ``tchu_signature`` header value for ``envelope``."""
        return f"{VERSION}:{self.sign_with}:{_mac(self._keys[self.sign_with], envelope)}"

    def verify(self, envelope: Envelope) -> None:
        """Check ``envelope.signature``.

        Raises:
            SignatureError: missing (when required), malformed, made with an unknown key, or not matching.
        """
        signature = envelope.signature
        what = f"event {envelope.event_id} ({envelope.routing_key!r})"
        if signature is None:
            if self.required:
                raise SignatureError(f"{what} is not signed, and this service requires signed events")
            return
        key_id, mac = _parts(signature, what)
        secret = self._keys.get(key_id)
        if secret is None:
            raise SignatureError(f"{what} is signed with key {key_id!r}, which this service does not accept")
        if not hmac.compare_digest(mac, _mac(secret, envelope)):
            raise SignatureError(f"{what} does not match its signature (key {key_id!r}): it was changed after signing")

    def sign_reply(self, request: Envelope, reply: Any) -> dict[str, Any]:
        """``reply`` (JSON data) wrapped with its signature, bound to ``request``'s routing key and event id."""
        signature = f"{VERSION}:{self.sign_with}:{_reply_mac(self._keys[self.sign_with], request, reply)}"
        return {REPLY_KEY: reply, REPLY_SIGNATURE_KEY: signature}

    def open_reply(self, request: Envelope, reply: Any) -> Any:
        """The value of a reply to ``request``, its signature checked; an unsigned reply as it is, unless required.

        Raises:
            SignatureError: unsigned (when required), malformed, made with an unknown key, or not matching.
        """
        what = f"the reply to call {request.event_id} ({request.routing_key!r})"
        if not (isinstance(reply, dict) and set(reply) == {REPLY_KEY, REPLY_SIGNATURE_KEY}):
            if self.required:
                raise SignatureError(f"{what} is not signed, and this client requires signed replies")
            return reply
        key_id, mac = _parts(reply[REPLY_SIGNATURE_KEY], what)
        secret = self._keys.get(key_id)
        if secret is None:
            raise SignatureError(f"{what} is signed with key {key_id!r}, which this client does not accept")
        if not hmac.compare_digest(mac, _reply_mac(secret, request, reply[REPLY_KEY])):
            raise SignatureError(f"{what} does not match its signature (key {key_id!r}): it was changed after signing")
        return reply[REPLY_KEY]


def _parts(signature: object, what: str) -> tuple[str, str]:
    """The key id and MAC of a ``v1:<key id>:<hex>`` signature."""
    version, _, rest = signature.partition(":") if isinstance(signature, str) else ("", "", "")
    key_id, _, mac = rest.partition(":")
    if version != VERSION or not key_id or not mac:
        raise SignatureError(f"{what} has a malformed signature; expected '{VERSION}:<key id>:<hex>'")
    return key_id, mac


def _reply_mac(secret: bytes, request: Envelope, reply: Any) -> str:
    canonical = json.dumps(reply, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    signed = "\n".join((f"tchu-{VERSION}-reply", request.routing_key, request.event_id, canonical))
    return hmac.new(secret, signed.encode(), hashlib.sha256).hexdigest()


def _mac(secret: bytes, envelope: Envelope) -> str:
    signed = "\n".join(
        (
            f"tchu-{VERSION}",
            envelope.routing_key,
            envelope.event_id,
            envelope.correlation_id,
            envelope.published_at,
            envelope.body,
        )
    )
    return hmac.new(secret, signed.encode(), hashlib.sha256).hexdigest()


__all__ = ["SignatureError", "Signer"]
