"""Publishing lanes against the real broker: one connection reused, bounded when threads crowd in, dropped when
the broker closes it or refuses a message, and never shared with a forked child."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time

import pytest
from helpers import declare, get_messages, publisher_app, queue_depth
from kombu import Queue

from tchu import PublishError, TchuClient
from tchu._amqp import LANES_KEPT, Lanes, lanes_for

pytestmark = pytest.mark.integration


def lanes_of(client) -> Lanes:
    transport = client.transport
    return lanes_for(transport._template(confirm=transport.confirm))  # noqa: SLF001 -- the lanes a publish uses


def vhost_connections(broker) -> list[str]:
    """The open connections of the test's vhost, as the broker lists them now (the management API's lag)."""
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "-p", broker.vhost, "--no-table-headers", "name", "state"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return [line for line in listed.stdout.splitlines() if line.strip() and "closed" not in line]


def wait_connections(broker, count: int, timeout: float = 20) -> list[str]:
    deadline = time.monotonic() + timeout
    while len(found := vhost_connections(broker)) != count and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def test_sequential_publishes_reuse_one_connection(broker, client):
    declare(broker, "audit", "audit.#")
    ids = [client.publish("audit.login", {"n": n}) for n in range(50)]
    lanes = lanes_of(client)
    assert len(lanes._idle) == 1  # noqa: SLF001 -- one lane, given back after each publish
    assert len(wait_connections(broker, 1)) == 1  # the broker's own count: nothing opened per publish
    assert [m.headers["id"] for m in get_messages(broker, "audit")] == ids


def test_threads_publishing_at_once_each_get_a_lane_and_at_most_the_limit_stay_open(broker, client):
    declare(broker, "audit", "audit.#")
    threads = LANES_KEPT + 4
    start = threading.Barrier(threads)
    ids: list[str] = []

    def publish() -> None:
        start.wait(timeout=30)
        ids.extend(client.publish("audit.login", {"n": n}) for n in range(20))

    workers = [threading.Thread(target=publish) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert len(lanes_of(client)._idle) <= LANES_KEPT  # noqa: SLF001 -- the rest were closed when given back
    assert len(wait_connections(broker, len(lanes_of(client)._idle))) <= LANES_KEPT  # noqa: SLF001
    assert sorted(m.headers["id"] for m in get_messages(broker, "audit")) == sorted(ids)
    assert len(ids) == threads * 20


def test_a_connection_the_broker_closed_is_replaced_and_the_event_arrives(broker, client, caplog):
    declare(broker, "audit", "audit.#")
    client.publish("audit.login", {"n": 0})
    assert len(wait_connections(broker, 1)) == 1
    subprocess.run(
        ["rabbitmqctl", "-q", "close_all_connections", "-p", broker.vhost, "test: broker closes"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert wait_connections(broker, 0) == []
    with caplog.at_level(logging.WARNING, logger="tchu.publish"):
        second = client.publish("audit.login", {"n": 1})
    assert "reconnecting" in caplog.text  # the idle lane was dead: dropped, and a new one opened
    assert [m.headers["id"] for m in get_messages(broker, "audit")][-1] == second
    assert len(lanes_of(client)._idle) == 1  # noqa: SLF001


def test_a_refused_message_drops_only_its_lane_and_the_next_publish_works(broker, client):
    declare(broker, "audit", "audit.#")
    declare(broker, "typed", **{"x-max-length": 1})  # exists with arguments the next declare contradicts
    client.publish("audit.login", {"n": 0})
    transport = client.transport
    with pytest.raises(PublishError, match="the broker refused"):
        transport.publish_message(
            b"{}",
            exchange="",
            routing_key="typed",
            headers={},
            properties={},
            declare=[Queue("typed", durable=True, queue_arguments={"x-max-length": 2})],
        )
    assert lanes_of(client)._idle == []  # noqa: SLF001 -- the refused channel is closed, never reused
    third = client.publish("audit.login", {"n": 2})
    assert [m.headers["id"] for m in get_messages(broker, "audit")][-1] == third


def test_a_forked_child_opens_its_own_lane_and_leaves_the_parents_open(broker, client, caplog):
    declare(broker, "audit", "audit.#")
    client.publish("audit.login", {"n": 0})
    parent_lane = lanes_of(client)._idle[0]  # noqa: SLF001
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: publish, report the event id, and leave without running the parent's cleanup
        status = 1
        try:
            os.close(read)
            assert lanes_of(client)._idle == []  # noqa: SLF001 -- the parent's lanes were forgotten
            os.write(write, client.publish("audit.login", {"n": 1}).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    child_id = os.read(read, 100).decode()
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    with caplog.at_level(logging.WARNING, logger="tchu.publish"):
        third = client.publish("audit.login", {"n": 2})
    assert "reconnecting" not in caplog.text  # the child never closed the parent's connection
    assert lanes_of(client)._idle == [parent_lane]  # noqa: SLF001
    assert [m.headers["id"] for m in get_messages(broker, "audit")][-2:] == [child_id, third]
    assert queue_depth(broker, "audit") == 0


def test_without_confirms_a_return_is_never_blamed_on_a_later_event(broker):
    declare(broker, "audit", "audit.#")
    app = publisher_app(broker)
    try:
        with TchuClient(app, confirm=False, unroutable="raise") as client:
            client.publish("nobody.hears", {"n": 0})  # returned by the broker, read during a later publish
            time.sleep(0.2)
            routed = [client.publish("audit.login", {"n": n}) for n in range(5)]  # none of them may raise
        deadline = time.monotonic() + 10
        while queue_depth(broker, "audit") < len(routed) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m.headers["id"] for m in get_messages(broker, "audit")] == routed
    finally:
        app.backend.client.connection_pool.disconnect()
        app.close()
