"""RabbitMQ itself is the oracle for tchu's topic matching.

One queue per pattern is bound to a topic exchange in the test's own vhost, every routing key is published
once with publisher confirms, and the (pattern, key) pairs RabbitMQ delivered are compared with
``compile_pattern(pattern).matches(key)`` for every pair.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter

import amqp
import kombu
import pytest

from tchu.topics import compile_pattern, validate_routing_key

SEED = 20240917
EXCHANGE = "tchu.oracle"
SHOWN = 200  # differing pairs listed per direction in a failure message
DRAIN_TIMEOUT = 20.0  # seconds for draining every queue, far above what a local broker needs

TRICKY_PATTERNS = [
    "#",
    "#.#",
    "#.#.#",
    "*",
    "*.*",
    "*.#",
    "#.*",
    "*.#.*",
    "#.*.#",
    "#.*.*.test",
    "user.#",
    "user.*",
    "user.created",
    "user",
    "#.user",
    "*.created",
    "a.#.b",
    "a.#.b.#.c",
    "a.*.#",
    "a.#.*",
    "#.a.#",
    "#.a",
    "a.#",
    "a.*",
    "*.a",
    "a",
    "a.b.c",
    "#.#.a.#.#",
    "*.*.*.*.*",
    "#.b.#.b.#",
]

TRICKY_KEYS = [
    "user",
    "user.created",
    "user.profile.updated",
    "users",
    "order.user",
    "order.created",
    "1.2.test",
    "0.1.2.test",
    "2.test",
    "test",
    "a.x.b",
    "a.x.b.y.b",
    "x",
    "a.b.c.d.e.f",
    "b.b.b.b.b.b.b",
]


def _patterns() -> list[str]:
    rng = random.Random(SEED)
    tokens = ["a", "b", "c", "*", "#"]
    patterns = dict.fromkeys(TRICKY_PATTERNS)
    while len(patterns) < 160:
        size = rng.randint(1, 5)
        patterns[".".join(rng.choice(tokens) for _ in range(size))] = None
    return list(patterns)


def _keys() -> list[str]:
    rng = random.Random(SEED + 1)
    words = ["a", "b", "c"]
    keys = dict.fromkeys(TRICKY_KEYS)
    for size in (1, 2, 3):  # every short key: 3 + 9 + 27
        for combo in itertools.product(words, repeat=size):
            keys[".".join(combo)] = None
    while len(keys) < 160:
        size = rng.randint(4, 5)
        keys[".".join(rng.choice(words) for _ in range(size))] = None
    return list(keys)


def _drain(channel, queues: dict[str, str], keys: set[str]) -> Counter[tuple[str, str]]:
    """Every (pattern, key) pair delivered, with how often; fails on anything unexpected."""
    delivered: Counter[tuple[str, str]] = Counter()
    deadline = time.monotonic() + DRAIN_TIMEOUT
    for queue, pattern in queues.items():
        while True:
            if time.monotonic() > deadline:
                pytest.fail(f"draining the oracle queues took over {DRAIN_TIMEOUT}s")
            message = channel.basic_get(queue, no_ack=True)
            if message is None:
                break
            body = bytes(message.body).decode()
            routing_key = message.delivery_info["routing_key"]
            assert body == routing_key, f"{queue}: body {body!r} arrived with routing key {routing_key!r}"
            assert body in keys, f"{queue}: unexpected message {body!r}"
            delivered[pattern, body] += 1
    # Publisher confirms mean every message was enqueued before draining began; make sure none is left.
    for queue in queues:
        _, remaining, _ = channel.queue_declare(queue, passive=True)
        assert remaining == 0, f"{queue} still holds {remaining} message(s) after draining"
    return delivered


@pytest.mark.integration
def test_matching_agrees_with_rabbitmq(broker, record_property) -> None:
    patterns = _patterns()
    keys = _keys()
    for key in keys:
        validate_routing_key(key)
    compiled = {pattern: compile_pattern(pattern) for pattern in patterns}
    started = time.monotonic()

    with kombu.Connection(broker.amqp_url, transport_options={"confirm_publish": True}) as conn:
        channel = conn.channel()
        channel.exchange_declare(EXCHANGE, "topic", durable=False, auto_delete=False)
        queues: dict[str, str] = {}
        for index, pattern in enumerate(patterns):
            queue = f"oracle.{index:03d}"
            channel.queue_declare(queue, durable=False, exclusive=True, auto_delete=True)
            channel.queue_bind(queue, EXCHANGE, routing_key=pattern)
            queues[queue] = pattern
        for key in keys:
            # With confirm_publish each publish waits for the broker's ack, which RabbitMQ sends only once
            # the message is in every queue it routes to.
            channel.basic_publish(
                amqp.Message(key.encode(), content_type="text/plain"),
                exchange=EXCHANGE,
                routing_key=key,
                confirm_timeout=10,
            )
        delivered = _drain(channel, queues, set(keys))

    duplicates = sorted(pair for pair, count in delivered.items() if count > 1)
    assert not duplicates, f"RabbitMQ delivered these (pattern, key) pairs more than once: {duplicates}"

    by_rabbitmq = set(delivered)
    by_tchu = {(p, k) for p in patterns for k in keys if compiled[p].matches(k)}
    compared = len(patterns) * len(keys)
    only_rabbitmq = sorted(by_rabbitmq - by_tchu)
    only_tchu = sorted(by_tchu - by_rabbitmq)
    mismatches = len(only_rabbitmq) + len(only_tchu)
    assert mismatches == 0, (
        f"tchu disagrees with RabbitMQ on {mismatches} of {compared} (pattern, key) pairs\n"
        f"RabbitMQ delivers but tchu says no match ({len(only_rabbitmq)}): {only_rabbitmq[:SHOWN]}\n"
        f"tchu matches but RabbitMQ does not deliver ({len(only_tchu)}): {only_tchu[:SHOWN]}"
    )

    positives = len(by_rabbitmq)
    with_hash = sum(1 for p, _ in by_rabbitmq if "#" in compiled[p].words)
    # A key shorter than its pattern can only match when some '#' stood for zero words.
    hash_zero = sum(1 for p, k in by_rabbitmq if k.count(".") < p.count("."))
    star_only = sum(1 for p, _ in by_rabbitmq if "*" in compiled[p].words and "#" not in compiled[p].words)
    elapsed = time.monotonic() - started
    summary = (
        f"topic oracle: {len(patterns)} patterns x {len(keys)} keys = {compared} pairs compared with "
        f"RabbitMQ, {positives} delivered ({with_hash} via '#', {hash_zero} with '#' matching zero words, "
        f"{star_only} via '*' only), 0 mismatches, {elapsed:.2f}s"
    )
    print(summary)
    record_property("topic_oracle", summary)

    assert compared >= 20_000
    assert positives >= 2_000
    assert compared - positives >= 10_000
    assert with_hash >= 1_500
    assert hash_zero >= 200
    assert star_only >= 100
