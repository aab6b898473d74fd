"""What handlers in benchmark worker processes record, for ``python -m bench`` to read back.

Every implementation's handlers call the same functions: tchu, plain Celery and raw kombu workers import this
module as ``bench.workers.recording``, tchu-tchu 2.2.3 workers (in their own virtualenv, without tchu or this
repository on their path) as the top-level module ``recording``. So it uses the standard library only.

A record is one line appended with a single ``os.write`` to a file of its own per process,
``<BENCH_DIR>/<kind>.<name>.<pid>``: a few microseconds, taken after the time is read.

BENCH_DIR      the folder the files go to
BENCH_EVERY    :func:`mark` writes one line per this many events (default 100)
"""

from __future__ import annotations

import os
import time
from pathlib import Path

EVERY = int(os.environ.get("BENCH_EVERY", "100"))

_files: dict[tuple[str, int], int] = {}
_counts: dict[str, int] = {}


def _write(kind: str, name: str, line: str) -> None:
    key = (f"{kind}.{name}", os.getpid())  # a forked pool process opens files of its own
    fd = _files.get(key)
    if fd is None:
        path = Path(os.environ["BENCH_DIR"]) / f"{key[0]}.{key[1]}"
        fd = _files[key] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(fd, line.encode())


def latency(name: str, sent_at: float) -> None:
    """An event the publisher stamped with ``sent_at`` (its ``time.time()``) reached a handler of ``name`` now."""
    now = time.time()
    _write("latency", name, f"{sent_at!r} {now!r}\n")


def mark(name: str) -> None:
    """Count one event of ``name``; every ``BENCH_EVERY`` events, write the count and a ``perf_counter`` reading."""
    count = _counts[name] = _counts.get(name, 0) + 1
    if count % EVERY == 0:
        _write("marks", name, f"{count} {time.perf_counter()!r}\n")


def executed(name: str) -> None:
    """An RPC handler of ``name`` ran once."""
    _write("runs", name, "1\n")


def ready(name: str) -> None:
    """The worker of ``name`` consumes its queues."""
    _write("ready", name, f"{os.getpid()}\n")
