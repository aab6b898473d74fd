"""Fixtures for the integration tests: clients on the test run's vhost, closed afterwards; the fault table."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import publisher_app

from tchu import TchuClient


def _closing_client(broker, backend: str):
    app = publisher_app(broker, backend=backend)
    client = TchuClient(app)
    try:
        yield client
    finally:
        client.close()
        if backend == "redis":
            app.backend.client.connection_pool.disconnect()
        elif app.backend.result_consumer._consumer is not None:  # noqa: SLF001 -- rpc:// keeps a connection
            app.backend.result_consumer.stop()
        app.close()


@pytest.fixture
def client(broker):
    """A TchuClient on a publisher app with the Redis result backend."""
    yield from _closing_client(broker, "redis")


@pytest.fixture
def rpc_client(broker):
    """A TchuClient on a publisher app with Celery's ``rpc://`` result backend."""
    yield from _closing_client(broker, "rpc")


FAULT_ROWS: list[dict[str, Any]] = []
FAULT_COLUMNS = ("published", "confirmed", "delivered", "dead-lettered", "duplicates", "reruns", "lost")


@pytest.fixture(scope="session")
def fault_report() -> list[dict[str, Any]]:
    """Where the fault-injection scenarios put their counts; printed as a table at the end of the run."""
    return FAULT_ROWS


def _fault_cells(row: dict[str, Any]) -> list[str]:
    delivered = " ".join(f"{name} {count}" for name, count in row["delivered"].items())
    return [
        row["scenario"],
        str(row["published"]),
        str(row["confirmed"]),
        delivered,
        str(row["dead_lettered"]),
        str(row["duplicates"]),
        str(row["reruns"]),
        str(row["lost"]),
    ]


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the fault-injection table (and the same rows as one JSON line) when scenarios ran."""
    if not FAULT_ROWS:
        return
    header = ["scenario", *FAULT_COLUMNS]
    rows = [_fault_cells(row) for row in FAULT_ROWS]
    widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header))]
    terminalreporter.write_sep("=", "fault injection: counts per scenario")
    for cells in [header, *rows]:
        terminalreporter.write_line("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)))
    for row in FAULT_ROWS:
        if row["note"]:
            terminalreporter.write_line(f"- {row['scenario']}: {row['note']}")
    terminalreporter.write_line(json.dumps({"fault_injection": FAULT_ROWS}, sort_keys=True))
