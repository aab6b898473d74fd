"""Fault injection against the real RabbitMQ, Redis and ``celery worker`` processes, counted end to end.

Each scenario publishes a stream of ``fault.*`` events to two services (``billing`` and ``audit``, both running
``handlers_faults``), injects one fault, waits until every service has finished every event it should, and
counts, from what the handlers recorded in Redis and what the broker holds in the dead-letter queues:

* published: publish calls made (valid events and, where the scenario has them, poison messages);
* confirmed: publishes the broker confirmed (the call returned);
* delivered: per service, the confirmed valid events its handler completed;
* dead-lettered: entries in the services' dead-letter queues, each of which must carry a reason;
* duplicates: handler completions beyond the first for one event in one service (at-least-once may give some;
  a redelivery of a handler that never completed is not one);
* reruns: handler runs that did not complete (killed, or failed and retried);
* lost: confirmed valid events some bound service never completed, plus poison messages neither dead-lettered
  nor refused at publish. It must be 0 in every scenario.

The table of every scenario is printed at the end of the test run (see ``conftest.py``).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import client_for, get_messages, publish_raw, queue_depth, rabbitmqctl, seen, wait_for_management

from tchu import Catalog, PublishError, TchuClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SERVICES = ("billing", "audit")
SUPPORT = Path(__file__).resolve().parents[1] / "support"
PICKLE = "application/x-python-serialize"


@pytest.fixture
def fault_client(broker, monkeypatch):
    """A client whose catalog has the fault events, so every valid publish is validated as in production."""
    monkeypatch.syspath_prepend(str(SUPPORT))
    import fault_catalog  # noqa: PLC0415 -- lives with the worker support modules

    with client_for(broker) as plain:
        client = TchuClient(plain.transport.app, catalog=fault_catalog.register(Catalog()))
        try:
            yield client
        finally:
            client.close()


def start_service(start_worker, name: str, *, pool: str = "solo", **env: str):
    """A worker of service ``name`` running ``handlers_faults``; ``env`` adds ``TCHU_TEST_*`` settings."""
    extra = {"TCHU_TEST_SERVICE": name, "TCHU_TEST_HANDLERS": "handlers_faults"}
    extra.update({f"TCHU_TEST_{key.upper()}": value for key, value in env.items()})
    return start_worker("svc", pool=pool, extra_env=extra)


@dataclass
class Stream:
    """What a scenario published: the number of every valid event sent, and which the broker confirmed."""

    sent: list[int] = field(default_factory=list)
    confirmed: set[int] = field(default_factory=set)
    raised: list[str] = field(default_factory=list)
    poison: int = 0

    def publish(self, client: TchuClient, key: str, n: int, **extra: Any) -> None:
        self.sent.append(n)
        try:
            client.publish(key, {"n": n, **extra})
        except PublishError as exc:
            self.raised.append(str(exc))
        else:
            self.confirmed.add(n)


def _completions(broker, handler: str) -> dict[str, Counter[int]]:
    done: dict[str, Counter[int]] = {name: Counter() for name in SERVICES}
    for record in seen(broker):
        if record["handler"] == handler and record["service"] in done:
            done[record["service"]][record["payload"]["n"]] += 1
    return done


def wait_done(broker, stream: Stream, services=SERVICES, handler: str = "work.done", timeout: float = 120) -> None:
    """Until each service completed every confirmed event (or ``timeout``), then a settle for late repeats."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = _completions(broker, handler)
        if all(stream.confirmed <= set(done[name]) for name in services):
            break
        time.sleep(0.25)
    time.sleep(1.0)


def account(
    broker,
    report,
    scenario: str,
    stream: Stream,
    *,
    services=SERVICES,
    handler: str = "work",
    expected_dead: int = 0,
    note: str = "",
) -> dict[str, Any]:
    """Count the outcome of ``scenario``, add it to the report and check the guarantees."""
    records = seen(broker)
    done = {name: Counter() for name in services}
    starts = 0
    for record in records:
        if record["service"] not in done:
            continue
        if record["handler"] == f"{handler}.done":
            done[record["service"]][record["payload"]["n"]] += 1
        elif record["handler"] == f"{handler}.start":
            starts += 1
    dead = [m for name in services for m in get_messages(broker, f"{name}_queue.dlq")]
    without_reason = [m.headers.get("id") for m in dead if not str(m.headers.get("tchu_dlq_reason") or "").strip()]
    lost_events = sum(len(stream.confirmed - set(done[name])) for name in services)
    completions = sum(sum(counter.values()) for counter in done.values())
    row = {
        "scenario": scenario,
        "published": len(stream.sent) + stream.poison,
        "confirmed": len(stream.confirmed) + stream.poison,
        "delivered": {name: len(stream.confirmed & set(done[name])) for name in services},
        "dead_lettered": len(dead),
        "duplicates": sum(count - 1 for counter in done.values() for count in counter.values() if count > 1),
        "reruns": starts - completions,
        "lost": lost_events + max(0, expected_dead - len(dead)),
        "note": note,
        "dead_letter_reasons": dict(Counter(str(m.headers.get("tchu_dlq_reason")).split(":")[0] for m in dead)),
    }
    report.append(row)
    assert not without_reason, f"dead-letter entries without a reason: {without_reason}"
    assert row["lost"] == 0, row
    assert len(dead) == expected_dead, row
    return row


def _hold_started(broker, service: str, n: int, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in seen(broker):
            if record["service"] == service and record["handler"] == "work.start" and record["payload"]["n"] == n:
                return record
        time.sleep(0.05)
    raise AssertionError(f"{service} never started event {n}")


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(("solo", False), id="solo"),
        pytest.param(("prefork", False), id="prefork"),
        pytest.param(("solo", True), id="solo-idempotency-guard"),
    ],
)
def test_a_worker_killed_mid_handler_loses_nothing(broker, start_worker, fault_client, fault_report, variant):
    """The billing process running the handler (solo: the worker; prefork: its pool child) gets SIGKILL while the
    handler of a held event sleeps, twice in a stream of 600 events; a solo worker is started again.

    Celery's solo pool acks a finished task from its event loop, which does not run while the next task (here the
    held one) blocks it: events finished just before the kill are delivered again and complete twice. With the
    idempotency guard their handler is skipped instead.
    """
    pool, guard = variant
    billing = {"hold": "1", **({"idempotency": "1"} if guard else {})}
    workers = {"billing": start_service(start_worker, "billing", pool=pool, **billing)}
    workers["audit"] = start_service(start_worker, "audit", pool=pool)
    stream, kills = Stream(), 0
    for n in range(600):
        stream.publish(fault_client, "fault.event", n, **({"hold": True} if n in {150, 400} else {}))
    for held in (150, 400):
        record = _hold_started(broker, "billing", held)
        os.kill(record["pid"], signal.SIGKILL)  # solo: the worker itself; prefork: the pool child running it
        kills += 1
        if pool == "solo":
            workers["billing"].proc.wait(timeout=10)
            workers["billing"] = start_service(start_worker, "billing", pool=pool, **billing)
    wait_done(broker, stream)
    name = f"worker SIGKILL mid-handler ({pool}{', idempotency guard' if guard else ''})"
    row = account(broker, fault_report, name, stream, note=f"{kills} kills; the killed runs were redelivered")
    assert row["reruns"] >= kills  # each killed handler run started and never completed
    if guard:
        assert row["duplicates"] == 0


def test_a_broker_restart_in_a_stream_of_thousands_loses_nothing_confirmed(
    broker, start_worker, fault_client, fault_report
):
    """RabbitMQ's application is stopped and started while 3,000 events are being published one by one."""
    for name in SERVICES:
        start_service(start_worker, name)
    stream, restarted = Stream(), threading.Event()

    def restart_at(count: int) -> None:
        while len(stream.sent) < count:
            time.sleep(0.005)
        rabbitmqctl("stop_app")
        time.sleep(1.0)
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")
        restarted.set()

    thread = threading.Thread(target=restart_at, args=(1000,), daemon=True)
    thread.start()
    for n in range(3000):
        stream.publish(fault_client, "fault.event", n)
    thread.join(timeout=120)
    assert restarted.is_set()
    wait_for_management(broker)
    wait_done(broker, stream, timeout=150)
    for message in stream.raised:  # a publish that was not confirmed said so, naming why
        assert "fault.event" in message, message
    account(
        broker,
        fault_report,
        "RabbitMQ restart mid-stream",
        stream,
        note=f"{len(stream.raised)} publishes raised during the outage",
    )


def test_events_published_while_a_consumer_is_down_wait_for_it(broker, start_worker, fault_client, fault_report):
    """The billing worker is stopped, 2,000 events are published, and the broker holds them until it is back."""
    workers = {name: start_service(start_worker, name) for name in SERVICES}
    workers["billing"].stop()
    stream = Stream()
    for n in range(2000):
        stream.publish(fault_client, "fault.event", n)
    waiting = queue_depth(broker, "billing_queue")  # the broker's own count, not ours
    assert waiting == len(stream.confirmed)
    start_service(start_worker, "billing")
    wait_done(broker, stream)
    account(
        broker,
        fault_report,
        "consumer down while events pile up",
        stream,
        note=f"{waiting} waited in billing_queue",
    )


def _task_headers(task: str = "tchu_tchu.dispatch_event", **extra: Any) -> dict[str, Any]:
    return {"task": task, "id": str(uuid.uuid4()), "lang": "py", "argsrepr": "", "kwargsrepr": "", **extra}


def _task_body(payload_json: str) -> bytes:
    return json.dumps([[payload_json], {"routing_key": "fault.event"}, {"callbacks": None}]).encode()


POISON: dict[str, tuple[bytes, str, dict[str, Any]]] = {
    "payload not JSON": (_task_body("{not json"), "application/json", {}),
    "payload not an object": (_task_body("[1, 2]"), "application/json", {}),
    "payload fails its schema": (_task_body('{"n": "seven"}'), "application/json", {}),
    "pickle body": (b"\x80\x04N.", PICKLE, {}),
    "forged retry header": (_task_body('{"n": 1}'), "application/json", {"tchu_attempt": "many"}),
    "unknown task": (_task_body('{"n": 1}'), "application/json", {"task": "evil.run"}),
}


def test_poison_messages_interleaved_with_valid_ones_are_dead_lettered_with_reasons(
    broker, start_worker, fault_client, fault_report
):
    """Every fifth message is poison (six kinds in turn, published raw); the valid ones around them all arrive."""
    for name in SERVICES:
        start_service(start_worker, name)
    stream, kinds = Stream(), list(POISON)
    for n in range(300):
        stream.publish(fault_client, "fault.event", n)
        if n % 5 == 4:
            body, content_type, extra = POISON[kinds[stream.poison % len(kinds)]]
            publish_raw(broker, "fault.event", body, content_type, {**_task_headers(), **extra})
            stream.poison += 1
    wait_done(broker, stream)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if sum(queue_depth(broker, f"{name}_queue.dlq") for name in SERVICES) >= stream.poison * len(SERVICES):
            break
        time.sleep(0.2)
    row = account(
        broker,
        fault_report,
        "poison messages interleaved",
        stream,
        expected_dead=stream.poison * len(SERVICES),
        note=f"{stream.poison} poison messages of {len(POISON)} kinds, each dead-lettered by both services",
    )
    assert row["duplicates"] == 0
    assert row["dead_letter_reasons"] == {"decode": 60, "validation": 20, "refused": 40}, row


def test_a_handler_failing_then_succeeding_under_retry(broker, start_worker, fault_client, fault_report):
    """``flaky`` fails twice per event and succeeds on its third run; ``work``, beside it, runs once per event."""
    start_service(start_worker, "billing")
    stream = Stream()
    for n in range(200):
        stream.publish(fault_client, "fault.flaky", n)
    wait_done(broker, stream, services=("billing",), handler="flaky.done")
    row = account(
        broker,
        fault_report,
        "handler failing then succeeding under retry",
        stream,
        services=("billing",),
        handler="flaky",
        note="flaky ran 3 times per event (2 retries with backoff)",
    )
    assert row["reruns"] == 2 * len(stream.confirmed)
    work = _completions(broker, "work.done")["billing"]
    assert set(work) == stream.confirmed
    assert max(work.values()) == 1  # the handler that succeeded was not run again by the retries
