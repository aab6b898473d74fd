"""One routing key, one set of names, everywhere: models, publishers, decorators, modules.

``user.created`` -> ``user_created``, ``UserCreated``, ``publish_user_created``, ``on_user_created``; an
rpc topic ``order.calculate_total`` also gets ``call_order_calculate_total``,
``responds_order_calculate_total`` and the reply model ``OrderCalculateTotalResponse``.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable
from dataclasses import dataclass

from tchu.errors import SetupError

CATALOG_KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")


@dataclass(frozen=True, slots=True)
class EventNames:
    """The Python names generated for one routing key."""

    routing_key: str
    snake: str
    model: str
    publisher: str
    subscriber: str
    caller: str
    responder: str
    response_model: str


def names_for(routing_key: str) -> EventNames:
    """The names of ``routing_key``; words are joined with ``_`` and capitalised for classes.

    Example:
        >>> names_for("order.payment.completed").model
        'OrderPaymentCompleted'
    """
    if not CATALOG_KEY.match(routing_key):
        raise SetupError(
            f"routing key {routing_key!r} cannot name an event: use lowercase words of [a-z0-9_] joined by '.'"
        )
    snake = routing_key.replace(".", "_")
    model = "".join(part.capitalize() for part in re.split(r"[._]", routing_key) if part)
    if not model:
        raise SetupError(f"routing key {routing_key!r} cannot name an event: a word needs a letter or digit")
    if model[0].isdigit() or keyword.iskeyword(snake) or keyword.iskeyword(model):  # 2fa, import, none -> None
        model = "Event" + model
        snake = "event_" + snake
    return EventNames(
        routing_key=routing_key,
        snake=snake,
        model=model,
        publisher=f"publish_{snake}",
        subscriber=f"on_{snake}",
        caller=f"call_{snake}",
        responder=f"responds_{snake}",
        response_model=f"{model}Response",
    )


def check_collisions(routing_keys: Iterable[str]) -> dict[str, EventNames]:
    """Names for every key, or :class:`SetupError` listing keys that would share a name.

    ``a.b_c`` and ``a_b.c`` both become ``a_b_c``; silently merging them would route one event's handlers to
    the other, so it is an error that names both keys.
    """
    names = {key: names_for(key) for key in routing_keys}
    seen: dict[str, str] = {}
    clashes: list[str] = []
    for key, n in sorted(names.items()):
        for label in {n.snake, n.model, n.response_model}:
            other = seen.setdefault(label, key)
            if other != key:
                clashes.append(f"{other!r} and {key!r} both generate {label!r}")
    if clashes:
        joined = "; ".join(sorted(set(clashes)))
        raise SetupError(f"routing keys collide: {joined}; rename one of each pair")
    return names
