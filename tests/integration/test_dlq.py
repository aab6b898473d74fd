"""The dead-letter queue from the outside: listing leaves it as it is, replay sends chosen events back."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from helpers import queue_depth, seen, wait_seen

pytestmark = pytest.mark.integration


def cli(broker, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tchu", "--broker", broker.amqp_url, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def dead_letter_two(broker, start_worker, client) -> tuple[str, str]:
    start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "notifications"})
    first = client.publish("user.created", {"user_id": 1, "email": "a@example.com", "fail": True})
    second = client.publish("user.created", {"user_id": 2, "email": "b@example.com", "fail": True})
    wait_seen(broker, 4, settle=0)
    deadline = time.monotonic() + 10
    while queue_depth(broker, "notifications_queue.dlq") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    return first, second


def test_list_shows_each_entry_and_leaves_the_queue_as_it_was(broker, start_worker, client):
    first, second = dead_letter_two(broker, start_worker, client)
    out = cli(broker, "dlq", "list", "notifications_queue")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"{first}  user.created  attempts=1  handlers=handlers_notifications.send_welcome")
    assert "reason: handler: 1 handler(s) failed for 'user.created'" in lines[1]
    assert '"user_id": 1' in lines[2]
    assert lines[3].startswith(second)
    assert lines[-1] == "2 dead-lettered event(s) in notifications_queue.dlq"
    assert queue_depth(broker, "notifications_queue.dlq") == 2


def test_list_masks_the_fields_the_catalog_marks_sensitive(broker, start_worker, client, tmp_path):
    dead_letter_two(broker, start_worker, client)
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    email = {"type": "string", "x-tchu-sensitive": True}
    schema = {"type": "object", "properties": {"user_id": {"type": "integer"}, "email": email}}
    (schemas / "user.created.json").write_text(json.dumps(schema))
    out = cli(broker, "dlq", "list", "notifications_queue", "--schemas", str(schemas))
    assert out.returncode == 0, out.stderr
    assert "a@example.com" not in out.stdout
    assert '"email": "***"' in out.stdout
    assert '"user_id": 1' in out.stdout


def test_list_with_a_catalog_that_does_not_lint_is_one_line_and_exit_1(broker, tmp_path):
    (tmp_path / "user.created.json").write_text("{not json")
    out = cli(broker, "dlq", "list", "notifications_queue", "--schemas", str(tmp_path))
    assert out.returncode == 1
    assert out.stderr.startswith("error: ")
    assert "user.created.json" in out.stderr
    assert "Traceback" not in out.stderr


def test_replay_to_the_service_runs_its_handlers_again_for_the_chosen_event(broker, start_worker, client):
    _first, second = dead_letter_two(broker, start_worker, client)
    out = cli(broker, "dlq", "replay", "notifications_queue", second)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "replayed 1 event(s) from notifications_queue.dlq to notifications_queue"
    records = wait_seen(broker, 6)
    replayed = records[4:]
    assert {r["event_id"] for r in replayed} == {second}
    assert sorted(r["handler"] for r in replayed) == ["send_welcome_email", "send_welcome_email_again"]
    deadline = time.monotonic() + 10  # it fails again, so it is dead-lettered again: nothing lost
    while queue_depth(broker, "notifications_queue.dlq") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert queue_depth(broker, "notifications_queue.dlq") == 2


def test_replay_to_the_exchange_reaches_every_bound_service(broker, start_worker, client):
    dead_letter_two(broker, start_worker, client)
    start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "analytics"})
    before = len(seen(broker))  # analytics saw nothing yet: it started after the events
    out = cli(broker, "dlq", "replay", "notifications_queue", "--to", "exchange")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "replayed 2 event(s) from notifications_queue.dlq to tchu_events"
    records = wait_seen(broker, before + 8)
    analytics = [r for r in records[before:] if r["service"] == "analytics"]
    assert sorted(r["handler"] for r in analytics) == ["track_everything"] * 2 + ["track_user_event"] * 2


def test_an_unreachable_broker_is_one_line_and_exit_1():
    out = subprocess.run(
        [sys.executable, "-m", "tchu", "--broker", "amqp://guest:guest@127.0.0.1:9//", "dlq", "list", "x_queue"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 1
    assert out.stderr.startswith("error: cannot reach the broker")
    assert "Traceback" not in out.stderr
