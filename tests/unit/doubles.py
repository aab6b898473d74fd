"""Test doubles shared by the unit tests: real implementations of tchu's protocols, kept in memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tchu.envelope import Envelope


class RecordingTransport:
    """A real in-memory transport: keeps every envelope; calls answer with ``reply(envelope)``.

    ``sent`` holds the published envelopes, ``calls`` the ``(envelope, timeout)`` of each call, and ``closed``
    counts :meth:`close` calls.
    """

    def __init__(self, reply: Callable[[Envelope], Any] = lambda _: None) -> None:
        self.sent: list[Envelope] = []
        self.calls: list[tuple[Envelope, float]] = []
        self.reply = reply
        self.closed = 0

    def send(self, envelope: Envelope) -> None:
        self.sent.append(envelope)

    def call(self, envelope: Envelope, timeout: float) -> Any:
        self.calls.append((envelope, timeout))
        return self.reply(envelope)

    def close(self) -> None:
        self.closed += 1
