"""A small client for RabbitMQ's management HTTP API.

AMQP 0-9-1 cannot list a queue's bindings, so finding stale bindings (left by removed handlers) needs the
management API. Only the standard library is used; failures raise :class:`ManagementError` naming the URL.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, unquote, urlsplit
from urllib.request import Request, urlopen

from tchu.errors import TchuError

MANAGEMENT_URL_ENV = "TCHU_MANAGEMENT_URL"
DEFAULT_MANAGEMENT_PORT = 15672


class ManagementError(TchuError, ConnectionError):
    """The management API could not be reached or refused a request."""


@dataclass(frozen=True)
class Binding:
    """One binding of a queue: messages published to ``exchange`` with a key matching ``pattern``."""

    exchange: str
    pattern: str


@dataclass(frozen=True)
class ManagementAPI:
    """The management API of one RabbitMQ node, with the credentials of the broker URL."""

    base_url: str
    username: str
    password: str
    timeout: float = 5.0

    @classmethod
    def for_broker(cls, broker_url: str, management_url: str | None = None) -> ManagementAPI:
        """Derive the API address from an ``amqp://user:pass@host:port/vhost`` URL.

        ``management_url`` (or the ``TCHU_MANAGEMENT_URL`` environment variable) overrides the derived
        ``http://host:15672``; credentials embedded in it win over the broker's.
        """
        broker = urlsplit(broker_url)
        username = unquote(broker.username or "guest")
        password = unquote(broker.password or "guest")
        explicit = management_url or os.environ.get(MANAGEMENT_URL_ENV)
        if explicit:
            mgmt = urlsplit(explicit)
            netloc = mgmt.hostname or "127.0.0.1"
            if mgmt.port:
                netloc = f"{netloc}:{mgmt.port}"
            base = f"{mgmt.scheme or 'http'}://{netloc}{mgmt.path.rstrip('/')}"
            username = unquote(mgmt.username) if mgmt.username else username
            password = unquote(mgmt.password) if mgmt.password else password
        else:
            base = f"http://{broker.hostname or '127.0.0.1'}:{DEFAULT_MANAGEMENT_PORT}"
        return cls(base, username, password)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request; return the decoded JSON answer (``None`` for an empty one)."""
        url = self.base_url + "/api" + path
        if not url.startswith(("http://", "https://")):
            raise ManagementError(f"management URL must be http(s), got {self.base_url!r}")
        data = None if body is None else json.dumps(body).encode()
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
        req = Request(url, data=data, method=method, headers=headers)  # noqa: S310 -- scheme checked above
        try:
            with urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 -- scheme checked above
                raw = resp.read()
        except HTTPError as exc:
            raise ManagementError(f"{method} {url} answered {exc.code} {exc.reason}") from exc
        except (URLError, OSError) as exc:
            raise ManagementError(f"cannot reach the RabbitMQ management API at {url}: {exc}") from exc
        try:
            return json.loads(raw) if raw else None
        except ValueError as exc:
            raise ManagementError(f"{method} {url} answered something that is not JSON: {raw[:80]!r}") from exc

    def queue_bindings(self, vhost: str, queue: str) -> list[Binding]:
        """The bindings of ``queue`` from non-default exchanges."""
        rows = self.request("GET", f"/queues/{_q(vhost)}/{_q(queue)}/bindings")
        return [Binding(str(r["source"]), str(r["routing_key"])) for r in rows if r.get("source")]

    def create_vhost(self, vhost: str) -> None:
        """Create ``vhost`` and give this API's user full permissions on it."""
        self.request("PUT", f"/vhosts/{_q(vhost)}", {})
        perms = {"configure": ".*", "write": ".*", "read": ".*"}
        self.request("PUT", f"/permissions/{_q(vhost)}/{_q(self.username)}", perms)

    def delete_vhost(self, vhost: str) -> None:
        """Delete ``vhost`` and everything in it."""
        self.request("DELETE", f"/vhosts/{_q(vhost)}")


def vhost_of(broker_url: str) -> str:
    """The virtual host an AMQP URL names (``/`` when it names none)."""
    path = urlsplit(broker_url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def _q(part: str) -> str:
    return quote(part, safe="")
