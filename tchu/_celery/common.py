"""Names, entities and helpers shared by the Celery/kombu boundary."""

from __future__ import annotations

from typing import Any

from celery import Celery, current_app
from kombu.entity import Exchange, Queue

from tchu._amqp import BROKER_ERRORS, EXCHANGE_NAME, describe, events_exchange, origin
from tchu.errors import TchuError

__all__ = [
    "BROKER_ERRORS",
    "DLQ_SUFFIX",
    "EXCHANGE_NAME",
    "RPC_QUEUE_PREFIX",
    "RPC_TASK_NAME",
    "SETUP_ERRORS",
    "dead_letter_queue",
    "describe",
    "events_exchange",
    "new_app",
    "origin",
    "queue_arguments",
    "resolve_app",
    "retry_queue",
    "rpc_queue",
    "rpc_queue_name",
]

RPC_TASK_NAME = "tchu.rpc.respond"
RPC_QUEUE_PREFIX = "tchu.rpc."
DLQ_SUFFIX = ".dlq"
SETUP_ERRORS: tuple[type[BaseException], ...] = (TchuError, *BROKER_ERRORS)


def rpc_queue_name(routing_key: str) -> str:
    """The queue RPC requests for ``routing_key`` go to; every responder of the key consumes it."""
    return RPC_QUEUE_PREFIX + routing_key


def rpc_queue(routing_key: str) -> Any:
    """The durable RPC request queue of ``routing_key``, on the default exchange."""
    name = rpc_queue_name(routing_key)
    return Queue(name, exchange=Exchange(""), routing_key=name, durable=True, auto_delete=False)


def queue_arguments(queue_type: str) -> dict[str, Any] | None:
    """The declaration arguments of a service queue of ``queue_type`` (``classic`` or ``quorum``)."""
    return {"x-queue-type": "quorum"} if queue_type == "quorum" else None


def dead_letter_queue(service_queue: str, queue_type: str = "classic") -> Any:
    """The durable dead-letter queue ``<service_queue>.dlq``, on the default exchange."""
    name = service_queue + DLQ_SUFFIX
    return Queue(
        name,
        exchange=Exchange(""),
        routing_key=name,
        durable=True,
        auto_delete=False,
        queue_arguments=queue_arguments(queue_type),
    )


def retry_queue(service_queue: str, delay: float) -> Any:
    """``<service_queue>.retry.<ms>ms``: holds retry copies for ``delay`` seconds, then hands them back to the
    service queue (a message TTL and a dead-letter route to the default exchange; no plugin needed)."""
    ms = max(1, round(delay * 1000))
    name = f"{service_queue}.retry.{ms}ms"
    arguments = {"x-message-ttl": ms, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": service_queue}
    return Queue(
        name, exchange=Exchange(""), routing_key=name, durable=True, auto_delete=False, queue_arguments=arguments
    )


def resolve_app(app: Any = None) -> Any:
    """``app``, or Celery's current app when ``None``."""
    return app if app is not None else current_app._get_current_object()  # noqa: SLF001 -- Celery's own proxy API


def new_app(name: str, broker_url: str, *, backend: str | None = None, **conf: Any) -> Any:
    """A Celery app with tchu's recommended settings (JSON only, UTC)."""
    app = Celery(name, broker=broker_url, backend=backend)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        **conf,
    )
    return app
