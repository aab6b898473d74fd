"""What one benchmark run owns, and gives back however the run ends.

A :class:`Run` creates a RabbitMQ virtual host of its own, a Redis key prefix, and a folder where worker
handlers record what they saw; it starts every worker and helper process. :meth:`Run.close` kills the
processes (each in a process group of its own, so pool children go too), deletes the virtual host and every
Redis key under the prefix, and removes the folder. It runs when the ``with`` block ends, from ``atexit``,
and on SIGTERM or SIGHUP; every process is also started with the parent-death signal set to SIGKILL, so no
worker outlives a benchmark that was killed outright. What such a run leaves on the broker and in Redis is
removed by the next run (:meth:`Run.reap_stale`): each run's folder names the process that owns it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import IO, Any, Self

import redis
from kombu.connection import Connection

from tchu._management import ManagementAPI, ManagementError

ROOT = Path(__file__).resolve().parents[1]
WORKERS = ROOT / "bench" / "workers"
HOST = os.environ.get("TCHU_TEST_AMQP_HOST", "127.0.0.1")
AMQP_PORT = int(os.environ.get("TCHU_RABBITMQ_PORT", "5672"))
REDIS_PORT = int(os.environ.get("TCHU_REDIS_PORT", "6379"))
NOT_FOUND = 404
OWNER = "owner.pid"  # in a run's folder: the benchmark process that owns the run
CLEANUP_PATIENCE = 60.0  # seconds a clean-up step waits for RabbitMQ or Redis to come back
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _die_with_parent() -> None:
    """In the child before ``exec``: the kernel sends it SIGKILL when the benchmark process dies."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class BenchError(RuntimeError):
    """A benchmark step could not be carried out (a process failed, a wait ran out); the message says which."""


@dataclass
class Proc:
    """A process of the run, its output going to ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    stdin: IO[bytes] | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Run:
    """One benchmark run's virtual host, Redis key prefix, record folder and processes."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    procs: list[Proc] = field(default_factory=list)
    every: int = 100  # events per throughput reading of the workers' handlers
    closed: bool = False

    def __post_init__(self) -> None:
        self.vhost = f"tchu-bench-{self.run_id}"
        self.amqp_url = f"amqp://guest:guest@{HOST}:{AMQP_PORT}/{self.vhost}"
        self.redis_url = f"redis://{HOST}:{REDIS_PORT}/0"
        self.redis_prefix = f"tchu-bench-{self.run_id}:"
        self.api = ManagementAPI.for_broker(f"amqp://guest:guest@{HOST}:{AMQP_PORT}//")
        self.dir = Path(tempfile.mkdtemp(prefix=f"tchu-bench-{self.run_id}-"))
        (self.dir / OWNER).write_text(str(os.getpid()))
        self.records = self.dir / "records"
        self.records.mkdir()
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Self:
        for stale in self.reap_stale():
            print(f"removed what a killed run left: vhost {stale}, its Redis keys and folder", file=sys.stderr)
        atexit.register(self.close)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._previous[sig] = signal.signal(sig, _exit_on_signal)
        self.api.create_vhost(self.vhost)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ processes

    def env(self, name: str = "", **extra: str) -> dict[str, str]:
        """The environment of a process of this run, for service ``name``."""
        env = dict(os.environ)
        env.update(
            BENCH_NAME=name,
            BENCH_BROKER_URL=self.amqp_url,
            BENCH_REDIS_URL=self.redis_url,
            BENCH_REDIS_PREFIX=self.redis_prefix,
            BENCH_DIR=str(self.records),
            BENCH_EVERY=str(self.every),
        )
        env.update(extra)
        return env

    def start(self, name: str, cmd: list[str], env: dict[str, str], *, cwd: Path = ROOT, stdin: bool = False) -> Proc:
        """Start ``cmd`` in a process group of its own; its stdout and stderr go to a log file of the run."""
        log = self.dir / f"{name}.{len(self.procs)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(  # noqa: S603 -- fixed argument lists built by the benchmark
                cmd,
                env=env,
                cwd=cwd,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdin else out,
                stderr=out,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 -- one libc call, no locks taken
            )
        proc = Proc(name, popen, log, popen.stdin)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, timeout: float = 15) -> None:
        """SIGTERM (a Celery worker's warm shutdown), then SIGKILL to the whole group if it lingers."""
        if proc.alive():
            proc.popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=timeout)
        _kill_group(proc.popen)
        proc.popen.wait()
        for stream in (proc.popen.stdin, proc.popen.stdout):
            if stream is not None:
                stream.close()

    def stop_all(self, procs: Iterable[Proc]) -> None:
        """Stop several processes, signalling all first so they shut down in parallel."""
        procs = list(procs)
        for proc in procs:
            if proc.alive():
                proc.popen.send_signal(signal.SIGTERM)
        for proc in procs:
            self.stop(proc)

    # ------------------------------------------------------------------------------------------- records

    def lines(self, kind: str, name: str) -> list[str]:
        """Every line handlers of ``name`` recorded under ``kind`` (see :mod:`bench.workers.recording`)."""
        out: list[str] = []
        for path in sorted(self.records.glob(f"{kind}.{name}.*")):
            out += path.read_text().splitlines()
        return out

    def wait_ready(self, procs: Iterable[Proc], timeout: float = 60) -> None:
        """Wait until each worker recorded that it consumes; fail with its log when it exited or took too long."""
        for proc in procs:
            wait_until(partial(self._ready, proc.name), timeout, f"{proc.name} ready", proc)

    def _ready(self, name: str) -> bool:
        return bool(self.lines("ready", name))

    # ----------------------------------------------------------------------------------------- the broker

    @contextlib.contextmanager
    def channel(self) -> Iterator[Any]:
        with Connection(self.amqp_url) as conn:
            channel = conn.channel()
            try:
                yield channel
            finally:
                channel.close()

    def queue_depth(self, queue: str) -> int:
        """Messages ready in ``queue``, asked of the broker itself."""
        with self.channel() as channel:
            _, count, _ = channel.queue_declare(queue, passive=True)
        return int(count)

    def wait_depth(self, queue: str, count: int, timeout: float = 60) -> None:
        """Wait until ``queue`` holds ``count`` messages (publishes without confirms may still be in flight)."""
        wait_until(lambda: self.queue_depth(queue) >= count, timeout, f"{count} messages in {queue}")

    def delete_queues(self, *queues: str) -> None:
        with self.channel() as channel:
            for queue in queues:
                channel.queue_delete(queue)

    # ------------------------------------------------------------------------------------------- clean-up

    def close(self) -> None:
        """Kill every process, delete the virtual host and the Redis keys, remove the folder. Idempotent."""
        if self.closed:
            return
        self.closed = True
        for proc in self.procs:
            with contextlib.suppress(OSError):
                _kill_group(proc.popen)
        for proc in self.procs:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                proc.popen.wait(timeout=10)
        _retrying(f"delete vhost {self.vhost}", self._delete_vhost)
        _retrying(f"delete Redis keys {self.redis_prefix}*", self._delete_redis_keys)
        shutil.rmtree(self.dir, ignore_errors=True)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        atexit.unregister(self.close)

    def _delete_vhost(self, vhost: str | None = None) -> None:
        try:
            self.api.delete_vhost(vhost or self.vhost)
        except ManagementError as exc:
            if f" {NOT_FOUND} " not in str(exc):  # already gone is what we want
                raise

    def _delete_redis_keys(self, prefix: str | None = None) -> None:
        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(match=(prefix or self.redis_prefix) + "*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()

    def reap_stale(self) -> list[str]:
        """Delete the vhost, Redis keys and folder of earlier runs whose owning process is gone (killed outright).

        Only runs of this benchmark are considered (folders ``tchu-bench-<run id>-*`` holding an owner pid); a run
        whose process still lives, another person's included, is left alone. Returns the vhosts removed.
        """
        removed = []
        for folder in Path(tempfile.gettempdir()).glob("tchu-bench-*-*"):
            try:
                pid = int((folder / OWNER).read_text())
            except (OSError, ValueError):
                continue
            if folder == self.dir or _alive(pid):
                continue
            vhost = "-".join(folder.name.split("-")[:3])  # tchu-bench-<run id>
            _retrying(f"delete vhost {vhost}", partial(self._delete_vhost, vhost))
            _retrying(f"delete Redis keys {vhost}:*", partial(self._delete_redis_keys, f"{vhost}:"))
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(vhost)
        return removed

    def leftovers(self) -> dict[str, Any]:
        """What of this run is still on the broker and in Redis (both empty after :meth:`close`)."""
        try:
            self.api.request("GET", f"/vhosts/{self.vhost}")
            vhost_left = True
        except ManagementError:
            vhost_left = False
        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = len(list(client.scan_iter(match=self.redis_prefix + "*", count=1000)))
        finally:
            client.close()
        return {"vhost": self.vhost, "vhost_left": vhost_left, "redis_prefix": self.redis_prefix, "redis_keys": keys}


def _retrying(what: str, step: Callable[[], None], seconds: float = CLEANUP_PATIENCE) -> None:
    """Run a clean-up step, trying again while the service is unreachable (a broker restarting) for ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            step()
        except (ManagementError, redis.RedisError, OSError) as exc:
            if time.monotonic() > deadline:
                print(f"warning: could not {what}: {exc}", file=sys.stderr)
                return
            time.sleep(1)
        else:
            return


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _kill_group(popen: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signal.SIGKILL)  # the session leader's pid is its group id


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every ``finally`` and ``with``, so the run is closed


def wait_until(ready: Callable[[], bool], timeout: float, what: str, proc: Proc | None = None) -> None:
    """Poll ``ready`` every 20 ms; fail naming ``what`` (with the log of ``proc``) on timeout or when it exited."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc is not None and not proc.alive():
            raise BenchError(f"{proc.name} exited with {proc.popen.returncode} before {what}:\n{proc.output()[-4000:]}")
        if time.monotonic() > deadline:
            tail = f":\n{proc.output()[-4000:]}" if proc is not None else ""
            raise BenchError(f"no {what} within {timeout:g} s{tail}")
        time.sleep(0.02)


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile ``pct`` (0-100) of ``values``."""
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def send_command(proc: Proc, command: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    """Send one JSON command line to a driver process and read its one-line JSON answer."""
    if proc.popen.stdin is None or proc.popen.stdout is None:
        raise BenchError(f"{proc.name} takes no commands")
    proc.popen.stdin.write(json.dumps(command).encode() + b"\n")
    proc.popen.stdin.flush()
    return read_answer(proc, timeout)


def read_answer(proc: Proc, timeout: float = 600) -> dict[str, Any]:
    """The next JSON line ``proc`` writes to its stdout."""
    if proc.popen.stdout is None:
        raise BenchError(f"{proc.name} answers nothing")
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.popen.stdout, selectors.EVENT_READ)
        while not sel.select(timeout=max(0.0, deadline - time.monotonic())):
            if time.monotonic() > deadline:
                raise BenchError(f"{proc.name} did not answer within {timeout:g} s:\n{proc.output()[-4000:]}")
    line = proc.popen.stdout.readline()
    if not line:
        raise BenchError(f"{proc.name} exited with {proc.popen.poll()}:\n{proc.output()[-4000:]}")
    answer: dict[str, Any] = json.loads(line)
    return answer
