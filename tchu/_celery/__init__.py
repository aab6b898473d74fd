"""The Celery boundary: the only part of tchu that imports Celery (kombu alone is also imported by
:mod:`tchu._amqp`, which publishes, and :mod:`tchu.serverless`, which publishes without a Celery app).

``transport`` publishes envelopes over a Celery app's broker settings and makes RPC calls, ``worker`` holds the
thin tasks that hand deliveries to a :class:`~tchu.dispatch.Dispatcher`, ``service`` declares a service's queue
and bindings from its handlers.
Celery and kombu are untyped, so their values are ``Any`` here and typed at the functions' edges.
"""

from tchu._celery.common import (
    DLQ_SUFFIX,
    EXCHANGE_NAME,
    RPC_QUEUE_PREFIX,
    RPC_TASK_NAME,
    events_exchange,
    new_app,
    resolve_app,
    rpc_queue_name,
)
from tchu._celery.service import BindingReport, Service, ensure_declared_for, setup_service
from tchu._celery.transport import CeleryTransport
from tchu._celery.worker import WorkerRuntime, create_topic_dispatcher

__all__ = [
    "DLQ_SUFFIX",
    "EXCHANGE_NAME",
    "RPC_QUEUE_PREFIX",
    "RPC_TASK_NAME",
    "BindingReport",
    "CeleryTransport",
    "Service",
    "WorkerRuntime",
    "create_topic_dispatcher",
    "ensure_declared_for",
    "events_exchange",
    "new_app",
    "resolve_app",
    "rpc_queue_name",
    "setup_service",
]
