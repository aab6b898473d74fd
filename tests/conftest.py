"""Shared fixtures: an isolated RabbitMQ vhost and Redis key prefix per test run, and real worker processes.

Services are never skipped: when RabbitMQ or Redis cannot be reached the session fails with the reason
(``scripts/test`` starts them first when they are installed).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tchu._management import ManagementAPI, ManagementError

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = Path(__file__).resolve().parent / "support"
AMQP_HOST = os.environ.get("TCHU_TEST_AMQP_HOST", "127.0.0.1")
AMQP_PORT = int(os.environ.get("TCHU_RABBITMQ_PORT", "5672"))
REDIS_PORT = int(os.environ.get("TCHU_REDIS_PORT", "6379"))


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection((AMQP_HOST, port), timeout=2):
            return True
    except OSError:
        return False


@dataclass
class Broker:
    """The test run's own vhost and Redis key prefix."""

    vhost: str
    amqp_url: str
    redis_url: str
    redis_prefix: str
    management: ManagementAPI
    _queues: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """Environment for a worker subprocess of this run."""
        env = dict(os.environ)
        env["TCHU_TEST_BROKER_URL"] = self.amqp_url
        env["TCHU_TEST_REDIS_URL"] = self.redis_url
        env["TCHU_TEST_REDIS_PREFIX"] = self.redis_prefix
        env["PYTHONPATH"] = os.pathsep.join([str(SUPPORT), str(ROOT), env.get("PYTHONPATH", "")])
        return env


@pytest.fixture(scope="session")
def services() -> ManagementAPI:
    """Fail the run, naming the service, when RabbitMQ or Redis cannot be reached."""
    missing = [name for name, port in (("RabbitMQ", AMQP_PORT), ("Redis", REDIS_PORT)) if not _reachable(port)]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not reachable on {AMQP_HOST}; run the tests with scripts/test, "
            "which starts them, or start them yourself (docker compose up -d rabbitmq redis)",
            pytrace=False,
        )
    return ManagementAPI.for_broker(f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}//")


@pytest.fixture
def broker(services: ManagementAPI) -> Iterator[Broker]:
    """A fresh vhost for one test, deleted at its end with all its queues and exchanges."""
    run = uuid.uuid4().hex[:10]
    vhost = f"tchu-test-{run}"
    api = services
    try:
        api.create_vhost(vhost)
    except ManagementError as exc:
        pytest.fail(f"cannot create the test vhost: {exc}", pytrace=False)
    prefix = f"tchu-test-{run}:"
    broker = Broker(
        vhost=vhost,
        amqp_url=f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/{vhost}",
        redis_url=f"redis://{AMQP_HOST}:{REDIS_PORT}/0",
        redis_prefix=prefix,
        management=api,
    )
    try:
        yield broker
    finally:
        api.delete_vhost(vhost)
        _delete_redis_keys(broker)


def _delete_redis_keys(broker: Broker) -> None:
    import redis  # noqa: PLC0415 -- only the integration run needs it

    client = redis.Redis.from_url(broker.redis_url)
    try:
        keys = list(client.scan_iter(match=broker.redis_prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


class Worker:
    """A real ``celery worker`` process for one of the apps in ``tests/support``.

    By default it runs with this interpreter, from the repository root, in the broker's environment
    (:meth:`Broker.env`) plus ``extra_env``. Another interpreter (``python``, e.g. a tchu-tchu virtualenv's),
    a whole environment of its own (``env``, still updated with ``extra_env``), a working directory (``cwd``),
    a hostname prefix and a fixed ``--loglevel=`` option can be given for processes that must not see tchu.
    """

    def __init__(
        self,
        broker: Broker,
        app: str,
        log: Path,
        *,
        pool: str = "solo",
        extra_env=None,
        python: str | Path = sys.executable,
        env: dict[str, str] | None = None,
        cwd: Path = ROOT,
        hostname: str | None = None,
        loglevel: str | None = None,
    ) -> None:
        self.app = app
        self.log = log
        env = dict(broker.env() if env is None else env)
        env.update(extra_env or {})
        loglevel = loglevel or os.environ.get("TCHU_TEST_LOGLEVEL", "--loglevel=INFO")
        hostname = hostname or app.replace(".", "_")
        cmd = [
            str(python), "-m", "celery", "-A", app, "worker",
            f"--pool={pool}", "--concurrency=1", loglevel,
            "--without-gossip", "--without-mingle",
            f"--hostname={hostname}-{uuid.uuid4().hex[:6]}@%h",
        ]  # fmt: skip
        self._fh = log.open("wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._fh, stderr=subprocess.STDOUT, cwd=cwd)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.output()
            if " ready." in text:
                return
            if self.proc.poll() is not None:
                pytest.fail(f"worker {self.app} exited with {self.proc.returncode}:\n{text[-4000:]}")
            time.sleep(0.1)
        pytest.fail(f"worker {self.app} not ready after {timeout}s:\n{self.output()[-4000:]}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 15, count: int = 1) -> str:
        """Wait until ``text`` occurs ``count`` times in the worker's output; return the output."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.output()
            if out.count(text) >= count:
                return out
            time.sleep(0.05)
        pytest.fail(f"worker {self.app}: {text!r} x{count} not seen within {timeout}s:\n{self.output()[-4000:]}")

    def stop(self, sig: int = signal.SIGQUIT) -> None:
        """Stop the worker: cold shutdown by default (unacked messages go back to the queue)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._fh.close()


@pytest.fixture
def start_worker(broker: Broker, tmp_path: Path) -> Iterator[object]:
    """Start real worker processes; all are stopped at the end of the test."""
    workers: list[Worker] = []

    def start(app: str, *, pool: str = "solo", ready: bool = True, extra_env=None, **options) -> Worker:
        """``options`` go to :class:`Worker` (``python``, ``env``, ``cwd``, ``hostname``, ``loglevel``)."""
        w = Worker(broker, app, tmp_path / f"{app}-{len(workers)}.log", pool=pool, extra_env=extra_env, **options)
        workers.append(w)
        if ready:
            w.wait_ready()
        return w

    yield start
    for w in workers:  # signal all first, so they shut down in parallel
        if w.proc.poll() is None:
            w.proc.send_signal(signal.SIGQUIT)
    for w in workers:
        w.stop()


_SPAN_EXPORTER: list[object] = []


@pytest.fixture
def span_exporter():
    """OpenTelemetry's SDK recording this process's spans in memory (installed once: the provider is global)."""
    from opentelemetry import trace  # noqa: PLC0415 -- only the tracing tests need it
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: PLC0415

    if not _SPAN_EXPORTER:
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _SPAN_EXPORTER.append(exporter)
    exporter = _SPAN_EXPORTER[0]
    exporter.clear()
    yield exporter
    exporter.clear()
