"""The idempotency guard: a handler that completed an event is skipped when the event comes again."""

from __future__ import annotations

import logging

import pytest

from tchu.catalog import Catalog
from tchu.dispatch import Dispatcher
from tchu.envelope import Envelope
from tchu.errors import HandlerError
from tchu.idempotency import MemoryIdempotency, RedisIdempotency
from tchu.router import Router


def build() -> tuple[Router, list[str]]:
    router, ran = Router(), []
    router.add("report.build", lambda _d: ran.append("announce"), handler_id="announce")

    def flaky(_data: object) -> None:
        ran.append("build")
        if len([r for r in ran if r == "build"]) == 1:
            raise RuntimeError("first run fails")

    router.add("report.build", flaky, handler_id="build")
    return router, ran


def test_a_redelivered_event_runs_only_the_handlers_that_did_not_complete() -> None:
    router, ran = build()
    dispatcher = Dispatcher(router, Catalog(), idempotency=MemoryIdempotency())
    event = Envelope.new("report.build", {})
    with pytest.raises(HandlerError):
        dispatcher.dispatch(event)
    delivery = dispatcher.dispatch(event)  # the same event id, delivered again
    assert ran == ["announce", "build", "build"]
    assert delivery.handlers == ("announce", "build")
    dispatcher.dispatch(event)  # both completed now: nothing runs
    assert ran == ["announce", "build", "build"]


def test_without_a_guard_every_delivery_runs_every_handler() -> None:
    router, ran = build()
    dispatcher = Dispatcher(router, Catalog())
    event = Envelope.new("report.build", {})
    with pytest.raises(HandlerError):
        dispatcher.dispatch(event)
    dispatcher.dispatch(event)
    assert ran == ["announce", "build", "announce", "build"]


def test_another_event_id_is_not_skipped() -> None:
    router, ran = build()
    dispatcher = Dispatcher(router, Catalog(), idempotency=MemoryIdempotency())
    with pytest.raises(HandlerError):
        dispatcher.dispatch(Envelope.new("report.build", {}))
    dispatcher.dispatch(Envelope.new("report.build", {}))
    assert ran == ["announce", "build", "announce", "build"]


def test_an_unreachable_redis_runs_the_handler_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    guard = RedisIdempotency("redis://127.0.0.1:9/0")
    router, ran = Router(), []
    router.add("report.build", lambda _d: ran.append("announce"), handler_id="announce")
    with caplog.at_level(logging.WARNING, logger="tchu.idempotency"):
        Dispatcher(router, Catalog(), idempotency=guard).dispatch(Envelope.new("report.build", {}))
    assert ran == ["announce"]  # a duplicate is better than a loss
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("idempotency check for announce/") for m in messages)
    assert any(m.startswith("could not record that announce completed") for m in messages)
    guard.client.close()
