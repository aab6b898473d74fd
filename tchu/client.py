"""``TchuClient``: publish events and make RPC calls, with tchu-tchu 2.2.3's signature."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Literal, Self

from tchu.catalog import Catalog
from tchu.envelope import Envelope
from tchu.errors import SetupError, TchuError
from tchu.publisher import DEFAULT_CALL_TIMEOUT, DEFAULT_MAX_PAYLOAD_BYTES, Publisher, Transport
from tchu.signing import Signer

Unroutable = Literal["log", "raise", "ignore"]

_IGNORED = {"delivery_mode"}  # accepted for tchu-tchu 2.x call sites; events are always persistent


class TchuClient:
    """Publishes validated events to ``tchu_events`` and calls RPC responders.

    Args:
        celery_app: the Celery app whose broker settings to use; Celery's current app when ``None``.
        serializer: an object with ``serialize(data) -> str`` (JSON) used for payloads that are neither
            mappings nor models, as tchu-tchu 2.x allowed.
        catalog: the schemas to validate against; the default catalog (filled by generated packages).
        confirm: wait for the broker's confirm on every publish (default True).
        publish_timeout: seconds to wait for a connection's write, a pooled connection (batches) and each confirm.
        unroutable: what to do with an event no queue is bound to (seen with confirms on): ``"log"`` a warning
            (the default), ``"raise"`` :class:`UnroutableError`, or ``"ignore"``.
        max_payload_bytes: the largest encoded payload :meth:`publish` sends (default 1 MiB).
        transport: a custom transport (for example an in-memory one); overrides ``celery_app``.
        signer: a :class:`~tchu.signing.Signer` that signs every event and call (payload, context and identity).

    Example:
        >>> client = TchuClient()
        >>> event_id = client.publish("user.created", {"user_id": 1, "email": "a@example.com"})
    """

    def __init__(
        self,
        celery_app: Any = None,
        serializer: Any = None,
        *,
        catalog: Catalog | None = None,
        confirm: bool = True,
        publish_timeout: float = 10.0,
        unroutable: Unroutable = "log",
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        transport: Transport | None = None,
        signer: Signer | None = None,
    ) -> None:
        self.serializer = serializer
        if transport is None:
            from tchu._celery import CeleryTransport  # noqa: PLC0415 -- kombu (and so django) only when used

            transport = CeleryTransport(
                celery_app, confirm=confirm, publish_timeout=publish_timeout, unroutable=unroutable
            )
        self.transport: Transport = transport
        self.publisher = Publisher(self.transport, catalog, max_payload_bytes=max_payload_bytes, signer=signer)

    def publish(self, topic: str, data: Any, **kwargs: Any) -> str:
        """Validate ``data`` against ``topic``'s schema, publish it to every bound service, return its id.

        Keyword arguments: ``correlation_id`` (defaults to the handled event's inside a handler);
        ``content_type`` (only ``application/json``) and ``delivery_mode`` are accepted for 2.x call sites.

        Raises:
            InvalidRoutingKeyError: ``topic`` is not a publishable key.
            PayloadValidationError: ``data`` does not match the schema; nothing was sent.
            PublishError: the broker did not take the event.
        """
        correlation_id = self._options(kwargs)
        return self.publisher.publish(topic, self._prepare(data), correlation_id=correlation_id)

    def batch(self) -> AbstractContextManager[list[Envelope]]:
        """A block whose publishes (plain, typed or ``TchuEvent``) are sent together, with one wait for confirms.

        Every publish inside is validated at once and returns its event id; nothing is sent before the block
        ends, and nothing at all if it raises. On exit the events are pipelined on one channel and the block
        returns once the broker confirmed every one.

        Raises:
            BatchPublishError: on exit, some events were not confirmed (``unconfirmed`` names them).

        Example:
            >>> with client.batch():
            ...     for user in users:
            ...         publish_user_created(user_id=user.id, email=user.email, name=user.name, client=client)
        """
        return self.publisher.batch()

    def publish_many(self, events: Iterable[tuple[str, Any]]) -> list[str]:
        """Validate every ``(topic, data)`` and publish them as one :meth:`batch`; return their event ids.

        Raises:
            PayloadValidationError: an event does not match its schema (its index is in the message's notes);
                nothing was sent.
            BatchPublishError: some events were not confirmed (``unconfirmed`` names them).
        """
        ids: list[str] = []
        with self.batch():
            for index, (topic, data) in enumerate(events):
                try:
                    ids.append(self.publish(topic, data))
                except TchuError as exc:
                    exc.add_note(f"event {index} of the batch ({topic!r}); nothing of the batch was sent")
                    raise
        return ids

    def call(self, topic: str, data: Any, timeout: float = DEFAULT_CALL_TIMEOUT, **kwargs: Any) -> Any:
        """Send an RPC request to the single service that responds to ``topic`` and return its reply.

        Raises:
            NoResponderError: no running service responds to ``topic`` (raised at once).
            RemoteError: the responder raised; ``remote_type`` and ``remote_message`` say what.
            RPCTimeoutError: no reply within ``timeout`` seconds (a builtin ``TimeoutError``).
            PayloadValidationError: the request or the reply does not match the catalog.
        """
        correlation_id = self._options(kwargs)
        return self.publisher.call(topic, self._prepare(data), timeout=timeout, correlation_id=correlation_id)

    def close(self) -> None:
        """Close the transport's idle broker connections (they reopen on the next publish)."""
        close = getattr(self.transport, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _prepare(self, data: Any) -> Any:
        if self.serializer is None or isinstance(data, Mapping | str | bytes) or hasattr(data, "model_dump"):
            return data
        return self.serializer.serialize(data)

    @staticmethod
    def _options(kwargs: dict[str, Any]) -> str | None:
        correlation_id = kwargs.pop("correlation_id", None)
        content_type = kwargs.pop("content_type", "application/json")
        if content_type != "application/json":
            raise SetupError(f"tchu events are JSON; content_type {content_type!r} is not supported")
        unknown = sorted(set(kwargs) - _IGNORED)
        if unknown:
            raise TypeError(f"unexpected keyword argument(s) {unknown}; expected correlation_id, content_type")
        return None if correlation_id is None else str(correlation_id)
