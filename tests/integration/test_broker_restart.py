"""A RabbitMQ restart in the middle of traffic: every publish either raised or arrived, and workers resume.

The broker application is stopped and started with ``rabbitmqctl`` (the node, its durable queues and persistent
messages stay), while a publisher keeps publishing and a real worker keeps consuming.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Self

import pytest
from helpers import rabbitmqctl, seen, wait_for_management

from tchu import PublishError

pytestmark = pytest.mark.integration


class Traffic:
    """Publishes ``audit.tick`` every 10 ms from a thread, noting each event id or error with its time."""

    def __init__(self, client) -> None:
        self.client = client
        self.published: list[tuple[float, str]] = []
        self.failed: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                self.published.append((time.monotonic(), self.client.publish("audit.tick", {"n": n})))
            except PublishError as exc:
                self.failed.append((time.monotonic(), str(exc)))
            n += 1
            time.sleep(0.01)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def test_publisher_and_worker_carry_on_across_a_broker_restart(broker, start_worker, client):
    start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "analytics"})  # "#" is bound: every tick is routed
    with Traffic(client) as traffic:
        time.sleep(1.0)
        stopped = time.monotonic()
        rabbitmqctl("stop_app")
        time.sleep(1.0)
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")
        started = time.monotonic()
        wait_for_management(broker)
        time.sleep(3.0)

    ids = [event_id for _, event_id in traffic.published]
    before = [event_id for at, event_id in traffic.published if at < stopped]
    after = [event_id for at, event_id in traffic.published if at > started]
    assert before, "nothing was published before the restart"
    assert after, f"the publisher did not recover after the restart: {traffic.failed[-3:]}"
    for _, message in traffic.failed:  # a publish that did not arrive said so, naming why
        assert "could not publish event 'audit.tick' after 4 attempts" in message or "confirm" in message, message

    deadline = time.monotonic() + 60
    handled: Counter[str] = Counter()
    while time.monotonic() < deadline:
        handled = Counter(r["event_id"] for r in seen(broker) if r["handler"] == "track_everything")
        if set(ids) <= set(handled):
            break
        time.sleep(0.2)
    duplicates = sum(handled[i] for i in ids) - len(ids)
    print(f"published {len(ids)} ({len(after)} after the restart), raised {len(traffic.failed)}, {duplicates} repeats")
    missing = set(ids) - set(handled)
    assert not missing, f"{len(missing)} of {len(ids)} confirmed events never reached the worker"
    assert set(after) <= set(handled)  # the worker consumes again after the restart
