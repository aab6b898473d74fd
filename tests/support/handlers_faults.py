"""Handlers of the fault-injection suite: each run is recorded when it starts and when it completes.

``work`` takes every ``fault.*`` event; in a worker started with ``TCHU_TEST_HOLD=1`` an event with
``"hold": true`` keeps it busy for a minute on its first delivery (not on a redelivery), so a test can kill the
worker in the middle of that handler. ``flaky`` fails its
first two runs of each ``fault.flaky`` event with ``ConnectionError`` and is retried with backoff.
"""

import os
import time

import fault_catalog
import redis
from recorder import record

from tchu import current_event, default_catalog, subscribe

fault_catalog.register(default_catalog)
_redis = redis.Redis.from_url(os.environ["TCHU_TEST_REDIS_URL"])
HOLD = os.environ.get("TCHU_TEST_HOLD") == "1"


@subscribe("fault.*")
def work(event):
    record("work.start", event)
    if event.get("hold") and HOLD and not current_event().redelivered:
        time.sleep(60)
    record("work.done", event)


@subscribe("fault.flaky", max_retries=3, retry_backoff=0.1, autoretry_for=(ConnectionError,))
def flaky(event):
    runs = int(_redis.incr(f"{os.environ['TCHU_TEST_REDIS_PREFIX']}runs:flaky:{current_event().event_id}"))
    record("flaky.start", event, run=runs)
    if runs <= 2:
        raise ConnectionError(f"upstream down (run {runs})")
    record("flaky.done", event)
