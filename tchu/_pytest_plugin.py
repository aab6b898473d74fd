"""The fixture of tchu's pytest plugin; loaded by :mod:`tchu.testing` when pytest loads it (``-p tchu``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tchu.testing import EventLog, recording


@pytest.fixture
def tchu_events(request: pytest.FixtureRequest) -> Iterator[EventLog]:
    """Every event the test publishes: handled in memory, or recorded on the broker of ``--tchu-broker``.

    See :mod:`tchu.testing`.
    """
    broker_url = request.config.getoption("tchu_broker")
    result_backend = request.config.getoption("tchu_result_backend")
    with recording(broker_url, result_backend=result_backend) as events:
        yield events
