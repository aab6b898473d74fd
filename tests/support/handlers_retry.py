"""Handlers with retry policies: one fails twice then succeeds, one always fails, one never does."""

import os

import redis
from recorder import record

from tchu import subscribe

_redis = redis.Redis.from_url(os.environ["TCHU_TEST_REDIS_URL"])


def _runs(name: str, event_id: str) -> int:
    return int(_redis.incr(f"{os.environ['TCHU_TEST_REDIS_PREFIX']}runs:{name}:{event_id}"))


@subscribe("job.#")
def steady(event):
    record("steady", event)


@subscribe("job.#", max_retries=3, retry_backoff=0.2, autoretry_for=(ConnectionError,))
def flaky(event):
    from tchu import current_event  # noqa: PLC0415

    runs = _runs("flaky", current_event().event_id)
    record("flaky", event, run=runs)
    if runs <= 2:
        raise ConnectionError(f"upstream down (run {runs})")


@subscribe("job.doomed", retry=2, retry_backoff=0.1)
def doomed(event):
    record("doomed", event)
    raise RuntimeError("always fails")


@subscribe("job.#", max_retries=5, autoretry_for=(ConnectionError,))
def picky(event):
    record("picky", event)
    if event.get("bad_value"):
        raise ValueError("not retried: only ConnectionError is")
