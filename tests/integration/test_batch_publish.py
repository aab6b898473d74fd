"""Batch publishing against the real broker: pipelined confirms, partial refusals, lost connections."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections import Counter

import pytest
from helpers import declare, get_messages, publisher_app, queue_depth

from tchu import BatchPublishError, TchuClient, UnroutableError

pytestmark = pytest.mark.integration


def event_ids(messages) -> list[str]:
    return [m.headers["id"] for m in messages]


def test_a_batch_arrives_whole_and_in_order(broker, client):
    declare(broker, "audit", "audit.#")
    ids = client.publish_many([("audit.login", {"n": i}) for i in range(300)])
    assert len(set(ids)) == 300
    messages = get_messages(broker, "audit")
    assert event_ids(messages) == ids
    assert [m.delivery_info["routing_key"] for m in messages] == ["audit.login"] * 300
    assert all(m.properties["delivery_mode"] == 2 for m in messages)  # persistent, as single publishes are


def test_publishes_inside_a_batch_block_are_held_until_it_ends(broker, client):
    declare(broker, "audit", "audit.#")
    with client.batch() as held:
        first = client.publish("audit.login", {"n": 1})
        second = client.publish("audit.logout", {"n": 2})
        assert [env.event_id for env in held] == [first, second]
        assert queue_depth(broker, "audit") == 0
    assert event_ids(get_messages(broker, "audit")) == [first, second]


def test_a_batch_block_that_raises_sends_nothing(broker, client):
    declare(broker, "audit", "audit.#")

    def fail_mid_block() -> None:
        with client.batch():
            client.publish("audit.login", {"n": 1})
            raise KeyError("the caller's own failure")

    with pytest.raises(KeyError):
        fail_mid_block()
    assert queue_depth(broker, "audit") == 0


def test_events_the_broker_refuses_are_named_and_the_rest_delivered(broker, client):
    declare(broker, "small", "audit.#", **{"x-max-length": 5, "x-overflow": "reject-publish"})
    items = [("audit.login", {"n": i}) for i in range(12)]
    with pytest.raises(BatchPublishError, match=r"7 of 12 events of the batch were not confirmed: .*negative") as info:
        client.publish_many(items)
    delivered = event_ids(get_messages(broker, "small"))
    assert len(delivered) == 5
    assert set(info.value.unconfirmed).isdisjoint(delivered)
    assert len(info.value.unconfirmed) == 7


def test_unroutable_events_of_a_batch_are_raised_after_the_routed_ones_arrived(broker):
    declare(broker, "audit", "audit.#")
    app = publisher_app(broker)
    try:
        with TchuClient(app, unroutable="raise") as client, pytest.raises(UnroutableError, match=r"'nobody\.hears'"):
            client.publish_many([("audit.login", {}), ("nobody.hears", {}), ("audit.logout", {})])
        assert queue_depth(broker, "audit") == 2
    finally:
        app.backend.client.connection_pool.disconnect()
        app.close()


def test_unroutable_events_of_a_batch_are_logged_by_default(broker, client, caplog):
    with caplog.at_level(logging.WARNING, logger="tchu.publish"):
        (event_id,) = client.publish_many([("nobody.hears", {})])
    assert f"no queue is bound to 'nobody.hears': event {event_id} reached no service" in caplog.text


def test_no_confirm_in_time_names_the_unconfirmed_events(broker):
    declare(broker, "audit", "audit.#")
    app = publisher_app(broker)
    try:
        with TchuClient(app, publish_timeout=0.000_001) as client, pytest.raises(BatchPublishError) as info:
            client.publish_many([("audit.login", {"n": i}) for i in range(50)])
        assert "no confirm within 1e-06 s" in str(info.value)
        assert 0 < len(info.value.unconfirmed) <= 50
    finally:
        app.backend.client.connection_pool.disconnect()
        app.close()


def test_without_confirms_a_batch_is_sent_and_not_waited_for(broker):
    declare(broker, "audit", "audit.#")
    app = publisher_app(broker)
    try:
        with TchuClient(app, confirm=False) as client:
            ids = client.publish_many([("audit.login", {"n": i}) for i in range(100)])
        deadline = time.monotonic() + 10
        while queue_depth(broker, "audit") < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert event_ids(get_messages(broker, "audit")) == ids
    finally:
        app.backend.client.connection_pool.disconnect()
        app.close()


def test_connections_closed_by_the_broker_mid_batch_lose_nothing(broker, client, caplog):
    """Batches keep going while RabbitMQ closes every connection of the vhost: each event arrives at least once."""
    declare(broker, "audit", "audit.#")
    closer = threading.Thread(
        target=subprocess.run,
        args=(["rabbitmqctl", "-q", "close_all_connections", "-p", broker.vhost, "test: broker closes"],),
        kwargs={"check": True, "capture_output": True, "timeout": 60},
    )
    published: list[str] = []
    with caplog.at_level(logging.WARNING, logger="tchu.publish"):
        closer.start()
        deadline = time.monotonic() + 60
        while closer.is_alive() and time.monotonic() < deadline:  # batches until the connections were closed
            published += client.publish_many([("audit.login", {"n": i}) for i in range(500)])
        published += client.publish_many([("audit.login", {"n": i}) for i in range(500)])  # and after
    closer.join()
    assert "re-sending" in caplog.text or "reconnecting" in caplog.text  # the broker did cut a connection
    arrived = Counter(event_ids(get_messages(broker, "audit")))
    assert set(arrived) == set(published)  # nothing lost
    assert sum(arrived.values()) - len(published) <= 1000  # re-sent only what was unconfirmed when cut
