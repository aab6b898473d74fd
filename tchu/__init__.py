"""tchu: a schema-first event catalog for Celery services on RabbitMQ, wire-compatible with tchu-tchu 2.x.

Publish with :class:`TchuClient` (or a generated ``publish_<event>`` function), subscribe with
:func:`subscribe`, and set a service up in one call with :func:`setup_service`.
"""

import typing as _typing

if _typing.TYPE_CHECKING:
    from tchu._celery import BindingReport, Service, create_topic_dispatcher, setup_service
from tchu.catalog import Catalog, EventSchema, default_catalog
from tchu.client import TchuClient
from tchu.context import EventInfo, current_event
from tchu.dispatch import Dispatcher
from tchu.envelope import Envelope
from tchu.errors import (
    BatchPublishError,
    HandlerError,
    InvalidPatternError,
    InvalidRoutingKeyError,
    MessageDecodeError,
    NoHandlerError,
    NoResponderError,
    PayloadError,
    PayloadValidationError,
    PublishError,
    RemoteError,
    RPCError,
    RPCTimeoutError,
    SetupError,
    TchuError,
    UnroutableError,
)
from tchu.events import TchuEvent
from tchu.router import Router, default_router, respond, subscribe
from tchu.signing import SignatureError, Signer
from tchu.topics import topic_matches

__version__ = "0.1.0"

_LAZY = {"BindingReport", "Service", "create_topic_dispatcher", "setup_service"}


def __getattr__(name: str) -> _typing.Any:
    # tchu._celery imports kombu, and kombu imports django when it is installed: load it on first use only
    if name in _LAZY:
        from tchu import _celery  # noqa: PLC0415

        return getattr(_celery, name)
    raise AttributeError(f"module 'tchu' has no attribute {name!r}")


__all__ = [
    "BatchPublishError",
    "BindingReport",
    "Catalog",
    "Dispatcher",
    "Envelope",
    "EventInfo",
    "EventSchema",
    "HandlerError",
    "InvalidPatternError",
    "InvalidRoutingKeyError",
    "MessageDecodeError",
    "NoHandlerError",
    "NoResponderError",
    "PayloadError",
    "PayloadValidationError",
    "PublishError",
    "RPCError",
    "RPCTimeoutError",
    "RemoteError",
    "Router",
    "Service",
    "SetupError",
    "SignatureError",
    "Signer",
    "TchuClient",
    "TchuError",
    "TchuEvent",
    "UnroutableError",
    "__version__",
    "create_topic_dispatcher",
    "current_event",
    "default_catalog",
    "default_router",
    "respond",
    "setup_service",
    "subscribe",
    "topic_matches",
]
