"""The figures that need running services: worker throughput, end-to-end latency to two services, RPC.

Each implementation (raw kombu, plain Celery, tchu, tchu-tchu 2.2.3) goes through the same steps with real
worker processes (see :mod:`bench.workers`):

1. *Worker throughput*: service A's queue is declared and filled with ``user.created`` events while no worker
   runs; then A's worker starts and drains it. Its handler writes a ``perf_counter`` reading every
   ``every`` events; the figure is the median rate over those chunks, the first (the worker's warm-up) left out.
   Beside it, the CPU time of the worker's process group per event over the same span: the broker pausing
   delivery (reading persistent messages back from disk) lowers the rate of some chunks but not this.
2. *End-to-end latency*: service B starts beside A; both are bound to ``bench.latency``. The publisher sends
   events at a fixed rate, each stamped with ``time.time()`` right before the publish call; each handler records
   ``time.time()`` when it starts. Figures are p50 and p99 over every (event, service), the first events of
   each service (warm-up) left out.
3. *RPC*: sequential calls answered by service B; p50 of the round trips, warm-up calls left out, and the number
   of handler executions per call (each execution is recorded by the handler).
4. For the Celery-based implementations, step 1 again with a prefork worker of concurrency 1 (service C).

Workers run with ``--loglevel=WARNING`` (no per-task log lines) and Celery's default prefetch; plain Celery tasks
and tchu-tchu 2.2.3 acknowledge before running (Celery's default), tchu after (its delivery guarantee), and the
raw kombu consumer takes the same prefetch (4) and acknowledges after handling.
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import Celery
from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from kombu.messaging import Consumer, Producer

from bench.legacy import LegacyRelease, clean_env
from bench.payload import KEY, LATENCY_KEY, PAYLOAD, RPC_KEY, RPC_REQUEST, catalog
from bench.runtime import ROOT, WORKERS, BenchError, Proc, Run, percentile, read_answer, send_command, wait_until
from tchu import TchuClient
from tchu._celery import new_app

RAW = "raw kombu"
CELERY = "celery task"
TCHU = "tchu"
LEGACY = "tchu-tchu 2.2.3"
CLOCK_TICK = 1 / os.sysconf("SC_CLK_TCK")  # seconds per unit of /proc/<pid>/stat CPU times


@dataclass(frozen=True)
class Counts:
    """How much each step does: events drained, events at the fixed rate, RPC calls."""

    drain: int  # events in the pre-filled queue (a multiple of ``every``)
    every: int  # events per throughput chunk
    latency_events: int
    per_second: float
    calls: int
    warm_events: int = 20  # per service, left out of the latency figures
    warm_calls: int = 5


class Implementation(ABC):
    """One way of publishing events to services and calling them; subclasses start its real workers."""

    label: str
    slug: str
    exchange: str
    pools: bool = True  # runs in Celery's pools (solo and prefork)

    def __init__(self, run: Run) -> None:
        self.run = run

    def service(self, role: str) -> str:
        return f"bench_{self.slug}_{role}"

    def queue(self, role: str) -> str:
        return f"{self.service(role)}_queue"

    def declare(self, role: str, keys: list[str]) -> None:
        """Declare the service's queue as its worker will, so it can be filled before the worker starts."""
        exchange = Exchange(self.exchange, type="topic", durable=True)
        with self.run.channel() as channel:
            exchange.declare(channel=channel)
            queue = Queue(self.queue(role), exchange, routing_key=keys[0], durable=True)
            queue.declare(channel=channel)
            for key in keys[1:]:
                queue.bind_to(exchange, routing_key=key, channel=channel)

    @abstractmethod
    def start(self, role: str, keys: list[str], *, rpc: bool = False, pool: str = "solo") -> Proc:
        """Start the worker of service ``role``, its queue bound to ``keys``."""

    @abstractmethod
    def fill(self, events: int) -> None:
        """Publish ``events`` ``user.created`` events (every bound queue gets them)."""

    @abstractmethod
    def paced(self, events: int, per_second: float) -> None:
        """Publish ``events`` ``bench.latency`` events at ``per_second``, each stamped with ``sent_at``."""

    @abstractmethod
    def calls(self, calls: int) -> list[float]:
        """Make ``calls`` sequential RPC calls; their round trips in milliseconds."""

    @abstractmethod
    def close(self) -> None:
        """Release the publisher's connections."""

    def celery_worker(self, module: str, role: str, keys: list[str], *, rpc: bool, pool: str) -> Proc:
        env = self.run.env(self.service(role), BENCH_KEYS=",".join(keys), BENCH_RPC="1" if rpc else "")
        env["PYTHONPATH"] = str(ROOT)
        cmd = [sys.executable, "-m", "celery", "-A", module, *worker_options(pool)]
        return self.run.start(self.service(role), cmd, env)


def worker_options(pool: str) -> list[str]:
    return [
        "worker",
        f"--pool={pool}",
        "--concurrency=1",
        "--loglevel=WARNING",
        "--without-gossip",
        "--without-mingle",
        f"--hostname=bench-{uuid.uuid4().hex[:6]}@%h",
    ]


def paced(send: Callable[[dict[str, Any]], object], events: int, per_second: float) -> None:
    """Call ``send(payload)`` ``events`` times at ``per_second``; ``sent_at`` is read right before each call."""
    interval = 1.0 / per_second
    start = time.perf_counter()
    for i in range(events):
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        send({**PAYLOAD, "sent_at": time.time()})


def timed_calls(call: Callable[[], object], calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out


# ------------------------------------------------------------------------------------------ raw kombu


class RawKombu(Implementation):
    """kombu ``Producer`` and ``Consumer`` only: the floor."""

    label = RAW
    slug = "raw"
    exchange = "bench_raw"
    pools = False
    rpc_queue = "bench_raw_rpc"

    def __init__(self, run: Run) -> None:
        super().__init__(run)
        self.conn = Connection(run.amqp_url)
        self.channel = self.conn.channel()
        self.producer = Producer(self.channel, exchange=Exchange(self.exchange, type="topic", durable=True))
        self.requests = Producer(self.channel, auto_declare=False)  # the default exchange: straight to a queue
        self.replies: dict[str, Any] = {}
        self.reply_queue: Queue | None = None

    def start(self, role: str, keys: list[str], *, rpc: bool = False, pool: str = "solo") -> Proc:
        del pool  # one consuming process; no pool
        env = self.run.env(self.service(role), BENCH_KEYS=",".join(keys), BENCH_RPC="1" if rpc else "")
        env["PYTHONPATH"] = str(ROOT)
        return self.run.start(self.service(role), [sys.executable, "-m", "bench.workers.kombu_svc"], env)

    def fill(self, events: int) -> None:
        for _ in range(events):
            self.producer.publish(PAYLOAD, routing_key=KEY, serializer="json", delivery_mode=2)

    def paced(self, events: int, per_second: float) -> None:
        paced(
            lambda p: self.producer.publish(p, routing_key=LATENCY_KEY, serializer="json", delivery_mode=2),
            events,
            per_second,
        )

    def calls(self, calls: int) -> list[float]:
        if self.reply_queue is None:
            self.reply_queue = Queue(f"bench_raw_reply_{uuid.uuid4().hex[:8]}", exclusive=True, auto_delete=True)
            consumer = Consumer(
                self.channel, [self.reply_queue], callbacks=[self._on_reply], accept=["json"], no_ack=True
            )
            consumer.consume()
        return timed_calls(self._call, calls)

    def _on_reply(self, body: Any, message: Any) -> None:
        self.replies[message.properties["correlation_id"]] = body

    def _call(self) -> Any:
        assert self.reply_queue is not None  # noqa: S101 -- set by calls()
        correlation_id = uuid.uuid4().hex
        self.requests.publish(
            RPC_REQUEST,
            routing_key=self.rpc_queue,
            reply_to=self.reply_queue.name,
            correlation_id=correlation_id,
            serializer="json",
        )
        while correlation_id not in self.replies:
            self.conn.drain_events(timeout=10)
        return self.replies.pop(correlation_id)

    def close(self) -> None:
        self.conn.release()


# --------------------------------------------------------------------------------------- plain Celery


class PlainCelery(Implementation):
    """``@app.task`` functions and ``send_task``: what a service does without tchu."""

    label = CELERY
    slug = "celery"
    exchange = "bench_celery"
    rpc_queue = "bench_celery_rpc"

    def __init__(self, run: Run) -> None:
        super().__init__(run)
        self.app = Celery("bench_publisher", broker=run.amqp_url, backend=run.redis_url)
        self.app.conf.result_backend_transport_options = {"global_keyprefix": run.redis_prefix}

    def start(self, role: str, keys: list[str], *, rpc: bool = False, pool: str = "solo") -> Proc:
        return self.celery_worker("bench.workers.celery_svc", role, keys, rpc=rpc, pool=pool)

    def _send(self, task: str, key: str, payload: dict[str, Any]) -> None:
        self.app.send_task(task, args=[payload], exchange=self.exchange, routing_key=key, ignore_result=True)

    def fill(self, events: int) -> None:
        for _ in range(events):
            self._send("bench.count", KEY, PAYLOAD)

    def paced(self, events: int, per_second: float) -> None:
        paced(lambda p: self._send("bench.latency", LATENCY_KEY, p), events, per_second)

    def calls(self, calls: int) -> list[float]:
        return timed_calls(
            lambda: self.app.send_task("bench.rpc", args=[RPC_REQUEST], queue=self.rpc_queue).get(timeout=10), calls
        )

    def close(self) -> None:
        self.app.backend.client.connection_pool.disconnect()
        self.app.close()


# ----------------------------------------------------------------------------------------------- tchu


class Tchu(Implementation):
    """``setup_service`` workers and a ``TchuClient`` with its defaults: validated, confirmed."""

    label = TCHU
    slug = "tchu"
    exchange = "tchu_events"

    def __init__(self, run: Run) -> None:
        super().__init__(run)
        self.app = new_app(
            "bench_publisher",
            run.amqp_url,
            backend=run.redis_url,
            result_backend_transport_options={"global_keyprefix": run.redis_prefix},
        )
        self.client = TchuClient(self.app, catalog=catalog())

    def start(self, role: str, keys: list[str], *, rpc: bool = False, pool: str = "solo") -> Proc:
        return self.celery_worker("bench.workers.tchu_svc", role, keys, rpc=rpc, pool=pool)

    def fill(self, events: int) -> None:
        self.client.publish_many((KEY, PAYLOAD) for _ in range(events))

    def paced(self, events: int, per_second: float) -> None:
        paced(lambda p: self.client.publish(LATENCY_KEY, p), events, per_second)

    def calls(self, calls: int) -> list[float]:
        return timed_calls(lambda: self.client.call(RPC_KEY, RPC_REQUEST, timeout=10), calls)

    def close(self) -> None:
        self.client.close()
        self.app.backend.client.connection_pool.disconnect()
        self.app.close()


# ---------------------------------------------------------------------------------------- tchu-tchu 2.2.3


class Legacy(Implementation):
    """tchu-tchu 2.2.3 in its own virtualenv: README-configured workers, and its publisher in a driver process."""

    label = LEGACY
    slug = "legacy"
    exchange = "tchu_events"

    def __init__(self, run: Run, release: LegacyRelease, driver: Proc) -> None:
        super().__init__(run)
        self.release = release
        self.driver = driver

    def start(self, role: str, keys: list[str], *, rpc: bool = False, pool: str = "solo") -> Proc:
        if rpc:  # tchu-tchu calls go through the exchange: the responding service binds the key
            keys = [*keys, RPC_KEY]
        env = legacy_env(self.run, self.service(role), BENCH_KEYS=",".join(keys), BENCH_RPC="1" if rpc else "")
        cmd = [str(self.release.python), "-m", "celery", "-A", "legacy_svc", *worker_options(pool)]
        return self.run.start(self.service(role), cmd, env, cwd=self.run.dir)  # not the repository: no tchu

    def fill(self, events: int) -> None:
        send_command(self.driver, {"op": "fill", "key": KEY, "payload": PAYLOAD, "events": events})

    def paced(self, events: int, per_second: float) -> None:
        command = {"op": "paced", "key": LATENCY_KEY, "payload": PAYLOAD, "events": events, "per_second": per_second}
        send_command(self.driver, command)

    def calls(self, calls: int) -> list[float]:
        command = {"op": "call", "key": RPC_KEY, "payload": RPC_REQUEST, "calls": calls, "timeout": 10}
        answer = send_command(self.driver, command)
        if any(reply != {"valid": True} for reply in answer["replies"]):
            raise BenchError(f"tchu-tchu 2.2.3 replied {answer['replies'][:3]}")
        return [float(ms) for ms in answer["ms"]]

    def close(self) -> None:
        """Stop the publisher process (each service measurement gets a fresh one; see ``bench.__main__``)."""
        self.run.stop(self.driver)


def legacy_env(run: Run, name: str, **extra: str) -> dict[str, str]:
    """The run's environment for a process of the legacy virtualenv: only ``bench/workers`` on its path."""
    env = clean_env()
    env.update({k: v for k, v in run.env(name, **extra).items() if k.startswith("BENCH_")})
    env["PYTHONPATH"] = str(WORKERS)
    return env


def start_legacy_driver(run: Run, release: LegacyRelease) -> Proc:
    """The tchu-tchu 2.2.3 publisher process (``bench/workers/legacy_driver.py``), ready for commands."""
    cmd = [str(release.python), str(WORKERS / "legacy_driver.py")]
    proc = run.start("legacy_driver", cmd, legacy_env(run, "legacy_driver"), cwd=run.dir, stdin=True)
    answer = read_answer(proc, timeout=120)
    if answer.get("ready") != release.version:
        raise BenchError(f"the tchu-tchu driver runs {answer}, not {release.version}")
    return proc


# --------------------------------------------------------------------------------------------- the steps


def throughput(run: Run, impl: Implementation, role: str, counts: Counts, pool: str) -> tuple[dict[str, float], Proc]:
    """Fill service ``role``'s queue, start its worker, let it drain; the worker and its figures.

    ``rate``: the median events/s over the chunks between handler readings (the first chunk, the worker's warm-up,
    has no rate). ``cpu_us``: CPU time of the worker's whole process group per event over the same span, which a
    pause in delivery (the broker reading persistent messages back from disk) does not change. ``stalled``: chunks
    slower than a fifth of the fastest one.
    """
    impl.declare(role, [KEY])
    impl.fill(counts.drain)
    run.wait_depth(impl.queue(role), counts.drain)
    worker = impl.start(role, [KEY, LATENCY_KEY] if role == "a" else [KEY], pool=pool)
    name = impl.service(role)
    marks = counts.drain // counts.every
    timeout = 60 + counts.drain / 100
    wait_until(lambda: bool(run.lines("marks", name)), timeout, "the first events drained", worker)
    cpu_start = group_cpu_seconds(worker.popen.pid)
    first = len(run.lines("marks", name))
    wait_until(lambda: len(run.lines("marks", name)) >= marks, timeout, f"{counts.drain} events drained", worker)
    cpu = group_cpu_seconds(worker.popen.pid) - cpu_start
    readings = sorted((int(c), float(t)) for c, t in (line.split() for line in run.lines("marks", name)))
    rates = [
        (c2 - c1) / (t2 - t1) for (c1, t1), (c2, t2) in itertools.pairwise(readings) if t2 > t1
    ]  # the first reading closes the warm-up chunk, so no rate includes it
    events = readings[-1][0] - readings[first - 1][0] or counts.drain
    return {
        "rate": statistics.median(rates),
        "cpu_us": max(cpu, CLOCK_TICK) / events * 1e6,
        "stalled": float(sum(rate < max(rates) / 5 for rate in rates)),
        "chunks": float(len(rates)),
    }, worker


def group_cpu_seconds(pgid: int) -> float:
    """User and system CPU seconds of every live process in process group ``pgid`` (a worker and its pool)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[2]) == pgid:  # after the name: state, ppid, pgrp, ..., utime (11), stime (12)
            total += (int(fields[11]) + int(fields[12])) * CLOCK_TICK
    return total


def latency(run: Run, impl: Implementation, roles: list[str], counts: Counts) -> dict[str, float]:
    """Publish at a fixed rate to the services ``roles``; p50 and p99 of publish-to-handler time, in ms."""
    impl.paced(counts.latency_events, counts.per_second)
    names = [impl.service(role) for role in roles]

    def arrived() -> bool:
        return all(len(run.lines("latency", name)) >= counts.latency_events for name in names)

    wait_until(arrived, 30 + counts.latency_events / counts.per_second, "every event at both services")
    samples: list[float] = []
    for name in names:
        pairs = sorted(tuple(map(float, line.split())) for line in run.lines("latency", name))
        samples += [(received - sent) * 1000 for sent, received in pairs[counts.warm_events :]]
    return {"p50": percentile(samples, 50), "p99": percentile(samples, 99), "samples": float(len(samples))}


def rpc(run: Run, impl: Implementation, role: str, counts: Counts) -> dict[str, float]:
    """Round-trip p50 (ms) of sequential calls, and handler executions per call."""
    impl.calls(counts.warm_calls)
    durations = impl.calls(counts.calls)
    total = counts.warm_calls + counts.calls
    name = impl.service(role)
    time.sleep(0.3)  # a second execution of some call would show by now
    runs = len(run.lines("runs", name))
    return {"p50": statistics.median(durations), "runs_per_call": runs / total, "calls": float(total)}


def drained(pool: str, found: dict[str, float]) -> str:
    return (
        f"  {pool} worker drained {found['rate']:.0f} events/s, {found['cpu_us']:.0f} us CPU per event, "
        f"{found['stalled']:.0f} of {found['chunks']:.0f} chunks stalled"
    )


def measure(
    run: Run, impl: Implementation, counts: Counts, progress: Callable[[str], None] = lambda _: None
) -> dict[str, dict[str, float]]:
    """Every worker figure of ``impl``: ``{figure: {statistic: value}}``; ``progress`` is told each step's result."""
    out: dict[str, dict[str, float]] = {}
    run.every = counts.every
    out["worker_solo"], worker_a = throughput(run, impl, "a", counts, "solo")
    progress(drained("solo", out["worker_solo"]))
    worker_b = impl.start("b", [LATENCY_KEY], rpc=True)
    run.wait_ready([worker_a, worker_b])
    progress("  second service ready")
    out["e2e"] = latency(run, impl, ["a", "b"], counts)
    progress(f"  e2e p50 {out['e2e']['p50']:.2f} ms, p99 {out['e2e']['p99']:.2f} ms")
    out["rpc"] = rpc(run, impl, "b", counts)
    progress(f"  rpc p50 {out['rpc']['p50']:.2f} ms, {out['rpc']['runs_per_call']:.2f} runs per call")
    run.stop_all([worker_a, worker_b])
    run.delete_queues(impl.queue("a"), impl.queue("b"))
    progress("  services stopped")
    if impl.pools:
        out["worker_prefork"], worker_c = throughput(run, impl, "c", counts, "prefork")
        progress(drained("prefork", out["worker_prefork"]))
        run.stop(worker_c)
        run.delete_queues(impl.queue("c"))
    return out
