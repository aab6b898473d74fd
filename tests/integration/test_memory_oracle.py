"""RabbitMQ is the oracle for the in-memory broker's routing: the same services receive the same events.

Each tricky pattern of ``test_topic_oracle`` becomes a queue bound to ``tchu_events`` in the test's own vhost and a
service of a :class:`~tchu.memory.MemoryBroker` subscribed to it; every key is published once, with confirms, and
the queues RabbitMQ filled are compared with the services the memory broker routes to.
"""

from __future__ import annotations

import amqp
import kombu
import pytest
from test_topic_oracle import TRICKY_KEYS, TRICKY_PATTERNS

from tchu import Router
from tchu.memory import MemoryBroker

pytestmark = pytest.mark.integration

EXCHANGE = "tchu_events"


def test_memory_routing_agrees_with_rabbitmq(broker) -> None:
    memory = MemoryBroker()
    for index, pattern in enumerate(TRICKY_PATTERNS):
        router = Router()
        router.add(pattern, lambda _data: None, handler_id="h")
        memory.add_service(f"s{index:02d}", router=router)
    by_memory = {(s.name, key) for key in TRICKY_KEYS for s in memory.route(key)}

    by_rabbitmq: set[tuple[str, str]] = set()
    with kombu.Connection(broker.amqp_url, transport_options={"confirm_publish": True}) as conn:
        channel = conn.channel()
        channel.exchange_declare(EXCHANGE, "topic", durable=True, auto_delete=False)
        for index, pattern in enumerate(TRICKY_PATTERNS):
            queue = f"s{index:02d}"
            channel.queue_declare(queue, durable=False, exclusive=True, auto_delete=True)
            channel.queue_bind(queue, EXCHANGE, routing_key=pattern)
        for key in TRICKY_KEYS:  # confirmed: in every queue it routes to before the next publish
            channel.basic_publish(amqp.Message(key.encode()), exchange=EXCHANGE, routing_key=key, confirm_timeout=10)
        for index in range(len(TRICKY_PATTERNS)):
            queue = f"s{index:02d}"
            while (message := channel.basic_get(queue, no_ack=True)) is not None:
                pair = (queue, bytes(message.body).decode())
                assert pair not in by_rabbitmq, f"RabbitMQ delivered {pair} twice"
                by_rabbitmq.add(pair)

    assert len(by_rabbitmq) > 100  # the comparison has something to compare
    assert sorted(by_memory - by_rabbitmq) == []
    assert sorted(by_rabbitmq - by_memory) == []
