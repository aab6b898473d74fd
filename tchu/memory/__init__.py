"""An in-memory broker: tchu's publisher, envelope, matcher and dispatcher, without RabbitMQ.

:class:`MemoryBroker` holds services. Each is bound to ``tchu_events`` with exactly the patterns of its router's
subscriptions, as :func:`tchu.setup_service` binds a real queue, and owns a :class:`~tchu.dispatch.Dispatcher`.
:class:`MemoryTransport` is a :class:`~tchu.publisher.Transport`: a ``TchuClient(transport=broker.transport())``
validates, wraps and signs as in production; each event is then encoded as the Celery task message a worker
receives, routed with RabbitMQ's topic semantics (:mod:`tchu.topics`), read back from those bytes and headers as
a worker reads it, and handed to the dispatcher of every bound service. Outcomes follow the worker's: a failed
handler with a retry policy runs again, alone, with ``current_event().attempt`` counting (without waiting, unless
``sleep`` is given); whatever a worker dead-letters is kept in the service's ``dead_letters`` with the same
reason (``validation: ...``, ``handler: ...``, ``no handler: ...``, ``signature: ...``, ``decode: ...``,
``refused: ...``).

Delivery is synchronous by default: ``send`` returns once every handler ran, and with them the handlers of the
events they published (queued behind the event being handled, never nested). With ``eager=False`` deliveries
wait until :meth:`MemoryBroker.drain`. RPC calls are always answered at once.

Example:
    >>> broker = MemoryBroker()
    >>> broker.add_service("notifications", handlers=["notifications.subscribers"])
    >>> client = TchuClient(transport=broker.transport())
    >>> client.publish("user.created", {"user_id": 1, "email": "ada@example.com", "name": "Ada"})
"""

from tchu.memory._broker import MAX_REASON, MemoryBroker, MemoryTransport
from tchu.memory._service import DeadLetter, MemoryService, RetryRecord
from tchu.memory._wire import RPC_TASK_NAME, read_task_message

__all__ = [
    "MAX_REASON",
    "RPC_TASK_NAME",
    "DeadLetter",
    "MemoryBroker",
    "MemoryService",
    "MemoryTransport",
    "RetryRecord",
    "read_task_message",
]
