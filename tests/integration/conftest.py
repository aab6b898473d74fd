"""Fixtures for the integration tests: clients on the test run's vhost, closed afterwards."""

from __future__ import annotations

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
