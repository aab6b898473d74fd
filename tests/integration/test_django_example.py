"""examples/django_orders: the Django service runs on the real broker, publishes from its view and signal, and its
own ``celery worker`` handles the events of its discovered subscribers module."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from helpers import declare, get_messages

from generated import Money, publish_order_payment_completed

ROOT = Path(__file__).resolve().parents[2]
PROBE = "orders_probe"

pytestmark = pytest.mark.integration


def example_env(broker, db: Path) -> dict[str, str]:
    env = broker.env()
    env.update(TCHU_BROKER_URL=broker.amqp_url, TCHU_RESULT_BACKEND=broker.redis_url, DJANGO_ORDERS_DB=str(db))
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def order_status(db: Path, order_id: int) -> str:
    with sqlite3.connect(db) as conn:
        (status,) = conn.execute("SELECT status FROM orders_order WHERE id = ?", (order_id,)).fetchone()
    return status


def test_example_publishes_on_commit_and_its_worker_handles_events(broker, client, start_worker, tmp_path):
    db = tmp_path / "orders.sqlite3"
    env = example_env(broker, db)
    worker = start_worker("examples.django_orders.celery", env=env, hostname="django_orders")
    declare(broker, PROBE, "order.#")

    demo = subprocess.run(
        [sys.executable, "-m", "examples.django_orders.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stderr
    result = json.loads(demo.stdout.strip().splitlines()[-1])
    assert result["status"] == 201, result
    order = result["order"]
    order_id = order["id"]

    published = {}
    for message in get_messages(broker, PROBE):
        body = json.loads(message.body)
        published[body[1]["routing_key"]] = (json.loads(body[0][0]), message.headers)
    assert set(published) == {"order.created", "order.placed"}
    created, headers = published["order.created"]
    assert created == {
        "order_id": order_id,
        "user_id": result["user_id"],
        "items": [{"id": 1, "quantity": 2}],
        "total": {"amount": 19.5, "currency": "EUR"},
        "coupon": None,
    }
    assert headers["tchu_schema_version"] == 1  # validated against the catalog's order.created
    placed, headers = published["order.placed"]
    assert headers["id"] == order["event_id"]
    assert placed["user"]["email"] == "ada@example.com"
    assert placed["company"]["name"] == "Acme"

    worker.wait_for(f"[orders] confirming order {order_id} to ada@example.com (Acme)")
    assert order_status(db, order_id) == "placed"
    publish_order_payment_completed(
        order_id=order_id, payment_id=uuid.uuid4(), amount=Money(amount=19.5, currency="EUR"), method="card",
        client=client,
    )  # fmt: skip
    worker.wait_for(f"[orders] order {order_id} paid by card")
    deadline = time.monotonic() + 5
    while order_status(db, order_id) != "paid" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert order_status(db, order_id) == "paid"
