"""Run the README's three services and send events and an RPC call through them.

    python -m examples.demo             # in one process, on tchu's in-memory broker: no RabbitMQ needed
    TCHU_BROKER_URL=amqp://... python -m examples.demo   # real Celery workers on RabbitMQ (and Redis for RPC)

In memory, the services are the same handler modules on :class:`tchu.memory.MemoryBroker`, which runs the
production validation, envelope, topic matcher and dispatcher. Each service prints what it handled.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from celery import Celery

import tchu
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
from tchu.memory import MemoryBroker

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


def publish_all(client: TchuClient) -> None:
    """Publish the demo's events and make its RPC call, printing each as it goes."""
    event_id = publish_user_created(user_id=123, email="user@example.com", name="John Doe", client=client)
    print(f"published user.created (event {event_id})")
    event_id = publish_user_deleted(user_id=99, reason="requested", client=client)
    print(f"published user.deleted (event {event_id})")
    total = Money(amount=19.5, currency="EUR")
    items = [OrderItem(id=1, quantity=2)]
    event_id = publish_order_created(order_id=7, user_id=123, items=items, total=total, client=client)
    print(f"published order.created (event {event_id})")
    reply = call_user_validate(email="user@example.com", timeout=10, client=client)
    print(f"rpc user.validate -> {reply!r}")


def in_memory() -> int:
    """The three services in this process, on the in-memory broker."""
    broker = MemoryBroker()
    for name in SERVICES:
        module = f"examples.{name}.subscribers"
        importlib.import_module(module)
        broker.add_service(name, router=tchu.default_router.of_modules([module]))
    print("in-memory broker (set TCHU_BROKER_URL to use RabbitMQ); services: " + ", ".join(SERVICES))
    with TchuClient(transport=broker.transport()) as client:
        publish_all(client)
    runs = 0
    for name in SERVICES:
        service = broker.service(name)
        for delivery in service.handled:
            runs += len(delivery.handlers)
            handlers = ", ".join(handler.rsplit(".", 1)[-1] for handler in delivery.handlers)
            print(f"{name} handled {delivery.routing_key} with {handlers}")
        for dead in service.dead_letters:
            print(f"{name} dead-lettered {dead.routing_key}: {dead.reason}", file=sys.stderr)
    print(f"{runs} handler runs across {len(SERVICES)} services")
    return 0 if runs >= EXPECTED_LINES else 1


def main() -> int:
    """In memory unless ``TCHU_BROKER_URL`` is set; returns the exit code."""
    return with_workers() if os.environ.get("TCHU_BROKER_URL") else in_memory()


def with_workers() -> int:
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
            publish_all(client)
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
