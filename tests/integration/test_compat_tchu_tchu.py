"""Wire compatibility with an unchanged tchu-tchu 2.2.3 from PyPI, both ways, with real processes.

tchu-tchu runs in its own virtualenvs (cached beside the repository, built by :mod:`bench.legacy`, which the
benchmarks share) that do not contain tchu; its services and publishers get ``tests/support`` on their path
and nothing else:

* ``tests/support/legacy_svc.py``: a tchu-tchu 2.2.3 service configured exactly as its README's manual
  configuration, run as ``<venv>/bin/python -m celery -A legacy_svc worker``; its handlers record what they
  received to the test's Redis list, as tchu's test handlers do.
* ``tests/support/legacy_publish.py``: publishes with tchu-tchu's ``TchuClient`` from a README-configured app.

tchu-tchu 3.x publishers are exercised with the real release from PyPI (:data:`TCHU_TCHU_3X`), not a
hand-built message, so the test follows what 3.x actually puts on the wire (``_tchu_meta`` in the payload).
A tap queue bound to ``tchu_events`` shows each test what really travelled, so no test passes without the
wire format it is about (tchu headers absent from 2.x messages, ``_tchu_meta`` present in 3.x ones).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import kombu
import pytest
from helpers import get_messages, queue_depth, tally, wait_seen

from bench.legacy import TCHU_TCHU_223, LegacyRelease, LegacyVenvError, ensure_venv

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = ROOT / "tests" / "support"

# cold virtualenv creation (pip) happens in the first test's set-up; every wait below has its own bound
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


TCHU_TCHU_3X = LegacyRelease("3.0.4", pins=(("tchu-tchu", "3.0.4"), ("celery", "5.5.3")))

PAYLOAD = {
    "user_id": 123,
    "email": "ada@example.com",
    "name": "Ada Lovelace — ünïcødé ✓",
    "tags": ["admin", "early"],
    "profile": {"age": 36, "score": 9.5, "active": True, "manager": None, "ids": [1, 2, 3]},
    "big": 2**53 + 1,
    "empty": {},
}
DELETED = {"user_id": 123, "reason": "gdpr"}
# what the legacy publishers send: one event through TchuClient.publish, one through CeleryProducer.publish
USER_EVENTS = [
    {"routing_key": "user.created", "payload": PAYLOAD, "via": "client"},
    {"routing_key": "user.deleted", "payload": DELETED, "via": "producer"},
]


# ----------------------------------------------------------------------------------- legacy virtualenvs


def _ensure_venv(release: LegacyRelease) -> LegacyRelease:
    """The release's cached venv (see :func:`bench.legacy.ensure_venv`); the session fails when it is unusable."""
    try:
        return ensure_venv(release)
    except LegacyVenvError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def tchu_tchu_223() -> LegacyRelease:
    """A virtualenv with tchu-tchu 2.2.3 (and redis), without tchu."""
    return _ensure_venv(TCHU_TCHU_223)


@pytest.fixture(scope="session")
def tchu_tchu_3x() -> LegacyRelease:
    """A virtualenv with a tchu-tchu 3.x release, without tchu."""
    return _ensure_venv(TCHU_TCHU_3X)


# ------------------------------------------------------------------------------------ legacy processes


def legacy_env(broker, **extra: str) -> dict[str, str]:
    """The broker's worker environment, but with only tests/support on the path (never the repository)."""
    env = broker.env()
    env["PYTHONPATH"] = str(SUPPORT)
    for name in ("PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        env.pop(name, None)
    env.update(extra)
    return env


@pytest.fixture
def start_legacy_worker(broker, tmp_path, tchu_tchu_223, start_worker):
    """Start real tchu-tchu 2.2.3 ``celery worker`` processes (tests/support/legacy_svc.py) in the legacy venv.

    They are :func:`start_worker`'s workers, so they are stopped with the others at the end of the test.
    """

    def start(service: str, patterns: str):
        return start_worker(
            "legacy_svc",
            python=tchu_tchu_223.python,
            env=legacy_env(broker, TCHU_TEST_SERVICE=service, LEGACY_PATTERNS=patterns),
            cwd=tmp_path,  # not the repository: ``python -m`` puts the working directory on sys.path
            hostname=f"legacy_{service}",
            loglevel="--loglevel=INFO",
        )

    return start


def legacy_publish(release: LegacyRelease, broker, workdir: Path, events: list[dict]) -> dict:
    """Publish ``events`` with tchu-tchu ``release`` in a subprocess; what legacy_publish.py printed."""
    try:
        proc = subprocess.run(
            [str(release.python), str(SUPPORT / "legacy_publish.py"), json.dumps(events)],
            env=legacy_env(broker),
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"tchu-tchu {release.version} publisher hung: {exc}")
    if proc.returncode != 0:
        pytest.fail(f"tchu-tchu {release.version} publisher failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["tchu_tchu"] == release.version
    return result


def assert_clean(output: str) -> None:
    """No handler failure, traceback or unknown task in a worker's log."""
    for bad in ("Traceback", "ERROR", "failed", "unregistered task"):
        assert bad not in output, f"{bad!r} in worker output:\n{output[-4000:]}"


# --------------------------------------------------------------------------------------------- the wire

TAP = "compat_tap"


def add_tap(broker, pattern: str = "user.#") -> None:
    """A queue of the test's own on ``tchu_events``: a copy of every matching event, exactly as sent."""
    exchange = kombu.Exchange("tchu_events", type="topic", durable=True)
    queue = kombu.Queue(TAP, exchange=exchange, routing_key=pattern, durable=True, auto_delete=False)
    with kombu.Connection(broker.amqp_url) as conn:
        exchange.declare(channel=conn.default_channel)
        queue.declare(channel=conn.default_channel)


def read_tap(broker, count: int, timeout: float = 10) -> list:
    deadline = time.monotonic() + timeout
    while queue_depth(broker, TAP) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    messages = get_messages(broker, TAP)
    assert len(messages) == count, [(m.headers, m.body) for m in messages]
    return messages


def wire(message) -> tuple[object, dict, dict]:
    """A tapped message's (payload argument, task kwargs, embed) from its protocol-2 body."""
    assert message.content_type == "application/json"
    args, kwargs, embed = json.loads(message.body)
    assert len(args) == 1, args
    return args[0], kwargs, embed


# ------------------------------------------------------------------------------------------------ tests

# the tchu service's handlers (tests/support/handlers_compat.py) once per matching event of USER_EVENTS
COMPAT_RECORDS = {
    ("compat", "compat_user_created", "user.created"): 1,
    ("compat", "compat_user_event", "user.created"): 1,
    ("compat", "compat_user_event", "user.deleted"): 1,
}


def test_tchu_events_reach_unmodified_tchu_tchu_223_handlers(broker, client, start_legacy_worker):
    legacy = start_legacy_worker("legacy", "user.*")  # the README's Quick Start: one routing_key

    created = client.publish("user.created", PAYLOAD)
    deleted = client.publish("user.deleted", DELETED)
    client.publish("order.created", {"order_id": 7})  # nobody is bound to it

    records = wait_seen(broker, 3, settle=1.0)
    assert tally(records) == {
        ("legacy", "legacy_user_created", "user.created"): 1,
        ("legacy", "legacy_user_event", "user.created"): 1,  # 2.2.3's own 'user.*' matching
        ("legacy", "legacy_user_event", "user.deleted"): 1,
    }
    for record in records:
        # the handler got the payload dict itself: no _tchu_meta, no ids, no envelope
        assert record["payload_type"] == "dict"
        assert record["payload"] == (PAYLOAD if record["routing_key"] == "user.created" else DELETED)
        assert record["delivery_routing_key"] == record["routing_key"]
        # 2.2.3 knows an event by its Celery task id, which tchu sets to the event id
        assert record["event_id"] == (created if record["routing_key"] == "user.created" else deleted)
    out = legacy.output()
    assert_clean(out)
    assert out.count("succeeded in") == 2, out[-4000:]  # 2.2.3's dispatcher task, once per delivered event


def test_tchu_tchu_223_publisher_reaches_tchu_handlers(broker, start_worker, tmp_path, tchu_tchu_223):
    tchu_service = start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "compat"})
    add_tap(broker)

    result = legacy_publish(tchu_tchu_223, broker, tmp_path, USER_EVENTS)

    created, deleted = result["published"]
    assert created["returned"] is None  # 2.2.3's TchuClient.publish returns nothing ...
    assert deleted["returned"] == deleted["task_id"]  # ... its CeleryProducer.publish the message (task) id
    for sent, key in ((created, "user.created"), (deleted, "user.deleted")):
        assert sent["task"] == "tchu_tchu.dispatch_event"
        assert (sent["exchange"], sent["rk"]) == ("tchu_events", key)

    records = wait_seen(broker, 3, settle=1.0)
    assert tally(records) == COMPAT_RECORDS
    for record in records:
        sent = created if record["routing_key"] == "user.created" else deleted
        assert record["payload"] == (PAYLOAD if sent is created else DELETED)
        # no tchu headers on a 2.2.3 message: the event id is its task id, the correlation id the event id
        assert record["event_id"] == sent["task_id"]
        assert record["correlation_id"] == sent["task_id"]
        assert record["schema_version"] is None
        assert record["redelivered"] is False

    # what 2.2.3 put on the wire: a plain Celery task message, without any of tchu's headers
    tapped = read_tap(broker, 2)
    for message, sent, payload in zip(tapped, (created, deleted), (PAYLOAD, DELETED), strict=True):
        assert message.headers["task"] == "tchu_tchu.dispatch_event"
        assert message.headers["id"] == sent["task_id"]
        assert not [h for h in message.headers if h.startswith("tchu_")], message.headers
        body, kwargs, _ = wire(message)
        assert kwargs == {"routing_key": sent["rk"]}
        assert isinstance(body, str)
        assert json.loads(body) == payload
    assert_clean(tchu_service.output())


def test_tchu_tchu_3x_meta_is_stripped_before_tchu_handlers(broker, start_worker, tmp_path, tchu_tchu_3x):
    tchu_service = start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "compat"})
    add_tap(broker)

    result = legacy_publish(tchu_tchu_3x, broker, tmp_path, USER_EVENTS)
    created, deleted = result["published"]

    # 3.x really sends _tchu_meta inside the payload (otherwise this test would prove nothing)
    tapped = read_tap(broker, 2)
    for message, payload in zip(tapped, (PAYLOAD, DELETED), strict=True):
        body, _, _ = wire(message)
        assert json.loads(body) == {**payload, "_tchu_meta": {"is_rpc": False}}

    records = wait_seen(broker, 3, settle=1.0)
    assert tally(records) == COMPAT_RECORDS
    for record in records:
        sent = created if record["routing_key"] == "user.created" else deleted
        assert record["payload"] == (PAYLOAD if sent is created else DELETED)  # exactly: _tchu_meta is gone
        assert record["event_id"] == sent["task_id"]
    assert deleted["returned"] == deleted["task_id"]
    assert_clean(tchu_service.output())


def test_mixed_fleet_one_event_reaches_tchu_and_tchu_tchu_223_services(
    broker, client, start_worker, start_legacy_worker
):
    # the README's "Multiple Routing Keys" form: several bindings of one queue
    legacy = start_legacy_worker("legacy", "user.created,user.deleted")
    tchu_service = start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "compat"})

    def bound(queue: str) -> list[tuple[str, str]]:
        return sorted((b.exchange, b.pattern) for b in broker.management.queue_bindings(broker.vhost, queue))

    assert bound("legacy_queue") == [("tchu_events", "user.created"), ("tchu_events", "user.deleted")]
    assert bound("compat_queue") == [("tchu_events", "user.*"), ("tchu_events", "user.created")]

    created = client.publish("user.created", PAYLOAD)
    deleted = client.publish("user.deleted", DELETED)

    records = wait_seen(broker, 6, settle=1.0)
    assert tally(records) == {
        ("legacy", "legacy_user_created", "user.created"): 1,
        ("legacy", "legacy_user_event", "user.created"): 1,
        ("compat", "compat_user_created", "user.created"): 1,
        ("compat", "compat_user_event", "user.created"): 1,
        ("legacy", "legacy_user_event", "user.deleted"): 1,
        ("compat", "compat_user_event", "user.deleted"): 1,
    }
    for record in records:
        is_created = record["routing_key"] == "user.created"
        assert record["payload"] == (PAYLOAD if is_created else DELETED)
        assert record["event_id"] == (created if is_created else deleted)  # one event id on both sides
    assert_clean(legacy.output())
    assert_clean(tchu_service.output())
