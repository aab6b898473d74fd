"""The main job, ``python -m examples.demo``: in memory by default, on RabbitMQ when a broker URL is set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
HANDLED = [
    "users handled user.deleted with cleanup_user_data",
    "notifications handled user.created with send_welcome_email",
    "analytics handled user.created with track_user_event, count_every_event",
]


def run_demo(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"TCHU_BROKER_URL", "TCHU_RESULT_BACKEND"}}
    return subprocess.run(
        [sys.executable, "-m", "examples.demo"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )


def test_the_demo_runs_in_one_process_without_a_broker():
    # a broker nobody listens on: anything that tried RabbitMQ would fail
    out = run_demo(CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:9//")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("in-memory broker")
    for expected in HANDLED:
        assert expected in lines
    assert "[notifications] sending welcome email to user@example.com (free plan)" in lines
    assert any(line.startswith("rpc user.validate -> UserValidateResponse(valid=True") for line in lines)
    assert lines[-1] == "7 handler runs across 3 services"


def test_the_same_demo_runs_real_workers_when_a_broker_url_is_set(broker):
    out = run_demo(TCHU_BROKER_URL=broker.amqp_url, TCHU_RESULT_BACKEND=broker.redis_url)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [line.strip() for line in out.stdout.splitlines()]
    assert lines[0] == f"broker {broker.amqp_url}, results {broker.redis_url}"
    assert "services ready: users, notifications, analytics" in lines
    assert "[notifications] sending welcome email to user@example.com (free plan)" in lines
    assert any(line.startswith("rpc user.validate -> UserValidateResponse(valid=True") for line in lines)
    assert lines[-1] == "7 handler runs across 3 services"
