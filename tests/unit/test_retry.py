"""Retry policies: which failures run again, after how long, and how Celery's option names map onto them."""

from __future__ import annotations

import pytest

from tchu.catalog import Catalog
from tchu.context import current_event
from tchu.dispatch import Dispatcher
from tchu.envelope import Envelope
from tchu.errors import HandlerError, SetupError
from tchu.retry import DEFAULT_BACKOFF_MAX, RetryPolicy, retry_policy
from tchu.router import Router


def test_delay_doubles_from_the_backoff_and_is_capped() -> None:
    policy = RetryPolicy(max_retries=5, backoff=0.5, backoff_max=3.0)
    assert [policy.delay(ConnectionError(), n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, None]


def test_only_the_named_exceptions_are_retried() -> None:
    policy = RetryPolicy(retry_for=(ConnectionError,))
    assert policy.delay(ConnectionResetError(), 1) == 1.0  # a subclass counts
    assert policy.delay(ValueError(), 1) is None


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, None),
        ({"retry": 2}, RetryPolicy(max_retries=2)),
        ({"max_retries": 4}, RetryPolicy(max_retries=4)),
        ({"autoretry_for": (KeyError,)}, RetryPolicy(retry_for=(KeyError,))),
        ({"retry_backoff": True}, RetryPolicy()),
        ({"retry_backoff": 5, "retry_backoff_max": 30}, RetryPolicy(backoff=5.0, backoff_max=30.0)),
        ({"retry_backoff": False, "max_retries": 1}, RetryPolicy(max_retries=1, backoff=0.0)),
    ],
)
def test_celery_option_names_map_onto_a_policy(kwargs: dict[str, object], expected: RetryPolicy | None) -> None:
    assert retry_policy(**kwargs) == expected  # type: ignore[arg-type]


def test_a_policy_object_is_used_as_given() -> None:
    policy = RetryPolicy(max_retries=9, backoff_max=DEFAULT_BACKOFF_MAX)
    assert retry_policy(policy) is policy


@pytest.mark.parametrize(
    "kwargs",
    [{"max_retries": -1}, {"backoff": -0.1}, {"retry_for": ()}, {"retry_for": (int,)}],
)
def test_bad_settings_are_setup_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(SetupError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_the_dispatcher_marks_each_failure_retry_or_final_and_runs_only_what_is_asked() -> None:
    router, ran = Router(), []

    @router.subscribe("job.run", max_retries=2, retry_backoff=0.5, autoretry_for=(ConnectionError,))
    def flaky(data: dict[str, object]) -> None:
        ran.append("flaky")
        raise ConnectionError("down")

    @router.subscribe("job.run")
    def plain(data: dict[str, object]) -> None:
        ran.append("plain")
        raise RuntimeError("bug")

    dispatcher = Dispatcher(router, Catalog())
    env = Envelope.new("job.run", {})
    with pytest.raises(HandlerError) as info:
        dispatcher.dispatch(env)
    by_handler = {f.handler.rsplit(".", 1)[-1]: f.retry_in for f in info.value.failures}
    assert by_handler == {"flaky": 0.5, "plain": None}
    assert [f.handler.rsplit(".", 1)[-1] for f in info.value.retrying] == ["flaky"]
    assert [f.handler.rsplit(".", 1)[-1] for f in info.value.final] == ["plain"]

    ran.clear()
    flaky_id = info.value.retrying[0].handler
    with pytest.raises(HandlerError) as info:
        dispatcher.dispatch(env, attempt=3, only=frozenset({flaky_id}))
    assert ran == ["flaky"]  # plain already had its run
    assert info.value.failures[0].retry_in is None  # out of retries: final


def test_a_handler_can_read_which_run_it_is() -> None:
    router, attempts = Router(), []
    router.subscribe("job.run")(lambda _data: attempts.append(current_event().attempt))
    dispatcher = Dispatcher(router, Catalog())
    dispatcher.dispatch(Envelope.new("job.run", {}))
    dispatcher.dispatch(Envelope.new("job.run", {}), attempt=3)
    assert attempts == [1, 3]
