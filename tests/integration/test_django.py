"""tchu.contrib.django against the real RabbitMQ and real ``celery worker`` processes of Django services.

The Django side runs in subprocesses (tests/support/django_scenarios.py, tests/support/django_project): Django's
settings are process-wide, and this process never configures them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import declare, get_messages, wait_seen

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "tests" / "unit"
PROBE = "django_probe"

pytestmark = pytest.mark.integration


def run_scenario(broker, tmp_path: Path, name: str, *, apps: str = "django_project.shop") -> dict:
    env = broker.env()
    env.update(
        PYTHONPATH=os.pathsep.join([env["PYTHONPATH"], str(UNIT)]),
        TCHU_TEST_SERVICE="shop",
        TCHU_TEST_DJANGO_APPS=apps,
        TCHU_TEST_DJANGO_DB=str(tmp_path / f"{name}.sqlite3"),
        TCHU_TEST_PROBE_QUEUE=PROBE,
    )
    out = subprocess.run(
        [sys.executable, "-m", "django_scenarios", name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    outcome = json.loads(out.stdout.strip().splitlines()[-1])[name]
    assert "error" not in outcome, outcome["error"]
    return outcome["result"]


def events_in(broker, queue: str = PROBE) -> list[tuple[str, dict, str]]:
    """(routing key, payload, event id) of every message in ``queue``, taken from it."""
    out = []
    for message in get_messages(broker, queue):
        body = json.loads(message.body)
        args, kwargs = body[0], body[1]
        out.append((kwargs["routing_key"], json.loads(args[0]), message.headers["id"]))
    return out


def django_worker(start_worker, service: str, apps: str, **options):
    env = {"TCHU_TEST_SERVICE": service, "TCHU_TEST_DJANGO_APPS": apps}
    return start_worker("django_project.celery_app", extra_env=env, hostname=f"django_{service}", **options)


def test_post_save_event_reaches_the_queue_only_after_commit(broker, tmp_path):
    declare(broker, PROBE, "shop.#")
    r = run_scenario(broker, tmp_path, "broker_commit")
    assert r["inside"] == 0  # inside the atomic block: queued in Django, not published
    assert r["after"] == 1
    ((key, payload, event_id),) = events_in(broker)
    assert key == "shop.order.created"
    assert payload == {"order_id": r["order_id"], "items": [{"id": 1, "quantity": 2}], "total": 19.5, "currency": "EUR"}
    assert event_id == r["event_id"]


def test_rollback_publishes_nothing(broker, tmp_path):
    declare(broker, PROBE, "shop.#")
    r = run_scenario(broker, tmp_path, "broker_rollback")
    assert (r["inside"], r["after_rollback"], r["orders"]) == (0, 0, 0)
    # the control event, published after the rollback, shows the queue would have received the order's
    assert events_in(broker) == [("shop.control", {"after": "rollback"}, r["control"])]


def test_invalid_event_raises_at_the_call_and_nothing_is_queued(broker, tmp_path):
    declare(broker, PROBE, "shop.#")
    r = run_scenario(broker, tmp_path, "broker_invalid")
    assert r["raised"] == [["$.order_id"], ["$.items", "$.total", "$.currency"]]
    assert r["pending"] == 0
    assert events_in(broker) == [("shop.control", {"after": "invalid"}, r["control"])]


def test_drf_view_context_reaches_another_services_worker_as_a_rebuilt_user(broker, tmp_path, start_worker):
    django_worker(start_worker, "audit", "django_project.audit")
    declare(broker, PROBE, "shop.order.*")
    r = run_scenario(broker, tmp_path, "broker_view")
    assert r["status"] == 201, r["body"]
    assert r["anonymous_status"] == 403
    ids = r["ids"]
    expected_context = {
        "user_type": "EventUser",
        "user_id": ids["user"],
        "email": "ada@example.com",
        "first_name": "Ada",
        "is_authenticated": True,
        "company_id": ids["company"],
        "company_name": "Acme",
        "user_company_id": ids["user_company"],
        "request_company_name": "Acme",
    }
    records = {rec["handler"]: rec for rec in wait_seen(broker, 2)}
    assert set(records) == {"audit_order", "audit_raw"}  # the TchuEvent handler and a plain @subscribe one
    for record in records.values():
        assert record["service"] == "audit"
        assert record["event_id"] == r["body"]["placed_event"]
        assert record["context"] == expected_context
    assert records["audit_order"]["payload"]["user"]["id"] == ids["user"]  # not the posted id 999

    published = {key: (payload, event_id) for key, payload, event_id in events_in(broker)}
    assert published["shop.order.created"][1] == r["body"]["created_event"]
    placed, placed_id = published["shop.order.placed"]
    assert placed_id == r["body"]["placed_event"]
    user = {"id": ids["user"], "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}
    assert placed["user"] == user
    assert placed["company"] == {"id": ids["company"], "name": "Acme"}
    assert placed["user_company"] == {"id": ids["user_company"]}


def test_worker_handles_the_events_of_discovered_subscribers_modules(broker, client, start_worker):
    django_worker(start_worker, "shop", "django_project.shop")
    client.publish("shop.ping", {"n": 1})
    (record,) = wait_seen(broker, 1)
    assert (record["service"], record["handler"], record["payload"]) == ("shop", "answer_ping", {"n": 1})


def test_worker_with_a_failing_subscribers_module_refuses_to_start(broker, start_worker):
    worker = django_worker(start_worker, "billing", "django_project.broken", ready=False)
    deadline = time.monotonic() + 30
    while worker.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    output = worker.output()
    assert worker.proc.poll() is not None, output[-4000:]
    assert "subscribers module 'django_project.broken.subscribers' raised on import" in output
    assert "RuntimeError: PAYMENTS_GATEWAY_URL is not set" in output
    assert " ready." not in output
