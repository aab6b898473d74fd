"""Reading a delivered task message as a Celery worker does, for the in-memory broker."""

from __future__ import annotations

import json
from typing import Any

from tchu.envelope import TASK_NAME, TCHU_HEADERS, Envelope, TaskMessage
from tchu.errors import MessageDecodeError

RPC_TASK_NAME = "tchu.rpc.respond"  # the responder task a call is addressed to, as on the wire


class RefusedMessageError(MessageDecodeError):
    """A message Celery's consumer refuses before any task runs (dead-lettered as ``refused: ...``)."""


def read_task_message(message: TaskMessage, routing_key: str, *, task_name: str = TASK_NAME) -> Envelope:
    """Read a delivered task message as a worker does and rebuild its envelope with :meth:`Envelope.decode`.

    ``routing_key`` is the key the message was published with (used when the task's kwargs carry none).

    Raises:
        MessageDecodeError: the message is not a task message for ``task_name``, its body is not Celery's
            ``[args, kwargs, embed]`` JSON, or :meth:`Envelope.decode` refuses it.
    """
    task = message.headers.get("task")
    if task is None:
        raise RefusedMessageError("not a task message (no 'task' header)")
    if task != task_name:
        raise RefusedMessageError(f"unknown task {str(task)[:200]!r}")
    try:
        body = json.loads(message.body)
    except ValueError as exc:
        raise RefusedMessageError(f"undecodable body: {exc}", message.body) from exc
    if not (isinstance(body, list) and len(body) == 3 and isinstance(body[0], list) and isinstance(body[1], dict)):  # noqa: PLR2004 -- [args, kwargs, embed]
        raise RefusedMessageError("the body is not a Celery task message: expected [args, kwargs, embed]", message.body)
    args, kwargs = body[0], body[1]
    if len(args) != 1:
        raise MessageDecodeError(f"expected one task argument (the payload JSON), got {len(args)}")
    unknown = sorted(set(kwargs) - {"routing_key"})
    if unknown:
        raise MessageDecodeError(f"unknown task arguments {unknown}")
    headers = {name: message.headers[name] for name in TCHU_HEADERS if message.headers.get(name) is not None}
    key = kwargs.get("routing_key") or routing_key
    return Envelope.decode(args[0], key, headers, str(message.headers.get("id")))


def raw_payload(message: TaskMessage) -> Any:
    """The payload of an undecodable message when it can be read, as ``tchu dlq list`` shows it; else a note."""
    try:
        args = json.loads(message.body)[0]
        return json.loads(args[0]) if isinstance(args[0], str) else args[0]
    except (ValueError, TypeError, IndexError, KeyError):
        return f"<{len(message.body)} bytes, not decoded>"
