"""Handlers in worker processes report what they saw to Redis, under the test's own key prefix."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import redis

from tchu import current_event

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client  # noqa: PLW0603 -- one connection per worker process
    if _client is None:
        _client = redis.Redis.from_url(os.environ["TCHU_TEST_REDIS_URL"])
    return _client


def record(handler: str, payload: Any, **extra: Any) -> None:
    """Append one observation to ``<prefix>seen``."""
    info = current_event()
    entry = {
        "service": os.environ.get("TCHU_TEST_SERVICE", ""),
        "handler": handler,
        "routing_key": info.routing_key,
        "payload": payload,
        "event_id": info.event_id,
        "correlation_id": info.correlation_id,
        "published_at": info.published_at,
        "schema_version": info.schema_version,
        "redelivered": info.redelivered,
        "pid": os.getpid(),
        "at": time.time(),
        **extra,
    }
    _redis().rpush(os.environ["TCHU_TEST_REDIS_PREFIX"] + "seen", json.dumps(entry))
