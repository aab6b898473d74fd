"""Publishing without a Celery app: kombu alone, for functions, scripts and short-lived processes.

:func:`connect` gives a :class:`~tchu.TchuClient` whose transport is a :class:`KombuTransport`: the same
validation, envelope, wire format, confirms, mandatory flag, batches and reconnects as a service's client, over
a connection to a broker URL that is closed when the block ends. Celery is never imported, so a cold start pays
only for kombu. RPC calls need a Celery result backend and are refused::

    from tchu.serverless import connect

    def handler(request):  # a cloud function
        with connect() as client:  # $TCHU_BROKER_URL, else $CELERY_BROKER_URL, else local RabbitMQ
            return client.publish("user.created", {"user_id": 1, "email": "a@example.com", "name": "Ada"})
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.connection import Connection

from tchu._amqp import DEFAULT_PUBLISH_TIMEOUT, AmqpPublisher, close_connections, made_once, transport_options
from tchu.catalog import Catalog
from tchu.client import TchuClient, Unroutable
from tchu.envelope import Envelope
from tchu.errors import SetupError
from tchu.publisher import DEFAULT_MAX_PAYLOAD_BYTES
from tchu.signing import Signer

LOCAL_BROKER = "amqp://guest:guest@127.0.0.1:5672//"
DEFAULT_CONNECT_TIMEOUT = 5.0


def broker_url(url: str | None = None) -> str:
    """``url``, else ``$TCHU_BROKER_URL``, else ``$CELERY_BROKER_URL``, else a local RabbitMQ."""
    return url or os.environ.get("TCHU_BROKER_URL") or os.environ.get("CELERY_BROKER_URL") or LOCAL_BROKER


class KombuTransport(AmqpPublisher):
    """Publishes events to ``tchu_events`` over connections to ``url``, with no Celery app.

    Connections are kept per transport between publishes and opened on the first; :meth:`close` closes them.
    ``connect_timeout`` bounds each attempt to reach the broker (four attempts with backoff, as for every
    publish). See :class:`~tchu._amqp.AmqpPublisher` for confirms, unroutable events and reconnects.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        confirm: bool = True,
        publish_timeout: float = DEFAULT_PUBLISH_TIMEOUT,
        unroutable: str = "log",
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        super().__init__(confirm=confirm, publish_timeout=publish_timeout, unroutable=unroutable)
        self.url = broker_url(url)
        self.connect_timeout = connect_timeout
        self._templates: dict[bool, Any] = {}

    def _template(self, *, confirm: bool) -> Any:
        def make() -> Any:
            options = transport_options(confirm=confirm)
            return Connection(self.url, transport_options=options, connect_timeout=self.connect_timeout)

        return made_once(self._templates, confirm, make)  # one per mode, even for threads starting at once

    def call(self, envelope: Envelope, timeout: float) -> Any:
        """Refused: an RPC reply comes back through a Celery result backend, which this transport has not."""
        del timeout
        raise SetupError(
            f"call {envelope.routing_key!r} needs a Celery result backend: use TchuClient(celery_app) with a "
            "backend; tchu.serverless only publishes"
        )

    def close(self) -> None:
        """Close this transport's connections (a later publish opens new ones)."""
        for template in self._templates.values():
            close_connections(template)
        self._templates.clear()


@contextmanager
def connect(
    url: str | None = None,
    *,
    catalog: Catalog | None = None,
    confirm: bool = True,
    publish_timeout: float = DEFAULT_PUBLISH_TIMEOUT,
    unroutable: Unroutable = "log",
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    signer: Signer | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> Iterator[TchuClient]:
    """A :class:`~tchu.TchuClient` publishing over kombu to ``url`` (see :func:`broker_url`), closed on exit.

    Raises (from its methods):
        PayloadValidationError: a payload does not match the catalog; nothing was sent.
        PublishError: the broker did not take an event (unreachable, refused, not confirmed in time).
    """
    transport = KombuTransport(
        url,
        confirm=confirm,
        publish_timeout=publish_timeout,
        unroutable=unroutable,
        connect_timeout=connect_timeout,
    )
    client = TchuClient(catalog=catalog, transport=transport, max_payload_bytes=max_payload_bytes, signer=signer)
    try:
        yield client
    finally:
        client.close()
