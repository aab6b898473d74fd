"""The responder check of an RPC call: asked of the broker once, trusted for a short time, then asked again."""

from __future__ import annotations

from typing import Any

import pytest
from amqp.exceptions import NotFound

from tchu import NoResponderError, PublishError
from tchu._celery import transport as transport_module
from tchu._celery.transport import RESPONDER_KNOWN_FOR, CeleryTransport


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(transport_module.time, "monotonic", clock)
    return clock


def transport_answering(answers: list[Any]) -> tuple[CeleryTransport, list[str]]:
    """A transport whose broker answers the passive declares with ``answers`` in turn (a count or an error)."""
    asked: list[str] = []
    transport = CeleryTransport(app=object(), declare_service=False)

    def consumers_of(queue: str) -> int:
        asked.append(queue)
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return int(answer)

    transport.consumers_of = consumers_of  # type: ignore[method-assign]
    return transport, asked


def test_a_responder_found_is_trusted_for_a_while_then_asked_for_again(clock: Clock) -> None:
    transport, asked = transport_answering([1, 1])
    transport._check_responder("order.total", "tchu.rpc.order.total")  # noqa: SLF001
    clock.now += RESPONDER_KNOWN_FOR - 0.01
    transport._check_responder("order.total", "tchu.rpc.order.total")  # noqa: SLF001
    assert asked == ["tchu.rpc.order.total"]
    clock.now += 0.02
    transport._check_responder("order.total", "tchu.rpc.order.total")  # noqa: SLF001
    assert asked == ["tchu.rpc.order.total"] * 2


def test_a_responder_gone_is_noticed_once_the_while_has_passed(clock: Clock) -> None:
    transport, _ = transport_answering([1, 0])
    transport._check_responder("order.total", "tchu.rpc.order.total")  # noqa: SLF001
    clock.now += RESPONDER_KNOWN_FOR + 0.01
    with pytest.raises(NoResponderError, match=r"no worker is consuming 'tchu\.rpc\.order\.total'"):
        transport._check_responder("order.total", "tchu.rpc.order.total")  # noqa: SLF001


@pytest.mark.usefixtures("clock")
def test_no_responder_is_never_remembered() -> None:
    transport, asked = transport_answering([0, NotFound("no queue", reply_code=404), 1])
    with pytest.raises(NoResponderError, match="no worker is consuming"):
        transport._check_responder("order.total", "tchu.rpc.order.total")  # noqa: SLF001
    with pytest.raises(NoResponderError, match=r"queue 'tchu\.rpc\.order\.total' does not exist"):
        transport._check_responder("order.total", "tchu.rpc.order.total")  # noqa: SLF001
    transport._check_responder("order.total", "tchu.rpc.order.total")  # noqa: SLF001 -- a worker came up
    assert len(asked) == 3


@pytest.mark.usefixtures("clock")
def test_each_key_is_checked_on_its_own() -> None:
    transport, asked = transport_answering([1, 1])
    transport._check_responder("order.total", "tchu.rpc.order.total")  # noqa: SLF001
    transport._check_responder("user.validate", "tchu.rpc.user.validate")  # noqa: SLF001
    assert asked == ["tchu.rpc.order.total", "tchu.rpc.user.validate"]


@pytest.mark.usefixtures("clock")
def test_a_broker_failure_while_checking_is_a_publish_error() -> None:
    transport, _ = transport_answering([ConnectionResetError("reset by peer")])
    with pytest.raises(PublishError, match=r"could not check the responders of 'order\.total': ConnectionResetError"):
        transport._check_responder("order.total", "tchu.rpc.order.total")  # noqa: SLF001
