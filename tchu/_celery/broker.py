"""Connections for the command line: one attempt, and errors that name the broker without its password."""

from __future__ import annotations

from typing import Any

from kombu.connection import Connection

from tchu._celery.common import BROKER_ERRORS, describe
from tchu.errors import TchuError


class BrokerError(TchuError, ConnectionError):
    """The broker could not be reached, refused a request, or closed the connection."""


def safe_url(broker_url: str) -> str:
    """``broker_url`` with its password masked, for messages."""
    return str(Connection(broker_url).as_uri())


def connect(broker_url: str, *, timeout: float = 5.0) -> Any:
    """An open kombu connection to ``broker_url``, tried once; release it when done.

    Raises:
        BrokerError: the broker cannot be reached (or refused the credentials or virtual host).
    """
    conn = Connection(broker_url, connect_timeout=timeout)
    try:
        conn.ensure_connection(max_retries=0)  # one attempt, no back-off
    except BROKER_ERRORS as exc:
        conn.release()
        raise BrokerError(f"cannot reach the broker at {safe_url(broker_url)}: {describe(exc)}") from exc
    return conn
