"""Run the README's three services as real Celery workers and send events and an RPC call through them.

    python -m examples.demo

Needs RabbitMQ and Redis (``scripts/demo`` starts them when installed). Each service prints what it handled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from celery import Celery

from examples.settings import BROKER_URL, RESULT_BACKEND
from generated import (
    Money,
    OrderItem,
    call_user_validate,
    publish_order_created,
    publish_user_created,
    publish_user_deleted,
)
from tchu import TchuClient

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("users", "notifications", "analytics")
EXPECTED_LINES = 7  # handler prints the events below cause across the three services
READY_TIMEOUT = 30.0
HANDLED_TIMEOUT = 15.0


class Worker:
    """One service's ``celery worker`` process; its handler output is echoed with the service name."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.ready = threading.Event()
        self.lines: list[str] = []
        app = f"examples.{service}.app"
        options = [
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            f"--hostname={service}@%h",
        ]
        cmd = [sys.executable, "-m", "celery", "-A", app, "worker", *options]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(  # noqa: S603 -- fixed argument list
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None  # noqa: S101 -- set by Popen(stdout=PIPE)
        for line in self.proc.stdout:
            if " ready." in line:
                self.ready.set()
            if f"[{self.service}]" in line or "ERROR" in line:
                text = line.split("] ", 1)[-1].rstrip() if "WARNING/" in line else line.rstrip()
                self.lines.append(text)
                print(f"  {text}", flush=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main() -> int:
    """Start the workers, publish, call, print, stop. Returns the exit code."""
    print(f"broker {BROKER_URL}, results {RESULT_BACKEND}")
    workers = [Worker(name) for name in SERVICES]
    try:
        for w in workers:
            if not w.ready.wait(READY_TIMEOUT):
                print(
                    f"error: the {w.service} worker did not start within {READY_TIMEOUT:.0f} s",
                    file=sys.stderr,
                )
                return 1
        print("services ready: " + ", ".join(SERVICES))
        publisher = Celery("publisher", broker=BROKER_URL, backend=RESULT_BACKEND)
        with TchuClient(publisher) as client:
            sent = [
                (
                    "user.created",
                    publish_user_created(user_id=123, email="user@example.com", name="John Doe", client=client),
                ),
                ("user.deleted", publish_user_deleted(user_id=99, reason="requested", client=client)),
                (
                    "order.created",
                    publish_order_created(
                        order_id=7,
                        user_id=123,
                        items=[OrderItem(id=1, quantity=2)],
                        total=Money(amount=19.5, currency="EUR"),
                        client=client,
                    ),
                ),
            ]
            for key, event_id in sent:
                print(f"published {key} (event {event_id})")
            reply = call_user_validate(email="user@example.com", timeout=10, client=client)
            print(f"rpc user.validate -> {reply!r}")
        deadline = time.monotonic() + HANDLED_TIMEOUT
        while sum(len(w.lines) for w in workers) < EXPECTED_LINES and time.monotonic() < deadline:
            time.sleep(0.05)
        handled = sum(len(w.lines) for w in workers)
        print(f"{handled} handler runs across {len(workers)} services")
        return 0 if handled >= EXPECTED_LINES else 1
    finally:
        for w in workers:
            w.stop()


if __name__ == "__main__":
    sys.exit(main())
