"""The request context an event carries: captured from a request when published, rebuilt in consumers.

The context travels in the payload as tchu-tchu 2.2.3 carries it: ``user``, ``company`` and ``user_company``
objects (or ``null``). Consumers rebuild a lightweight request from them, without a database query unless they
ask for the user model instance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from tchu.envelope import to_json_value

ContextPart = Literal["user", "company", "user_company"]
PARTS: Final[tuple[ContextPart, ...]] = ("user", "company", "user_company")

USER_FIELDS: Final = ("id", "email", "first_name", "last_name")
COMPANY_FIELDS: Final = ("id", "name")
USER_COMPANY_FIELDS: Final = ("id",)
DEFAULT_FIELDS: Final[Mapping[ContextPart, Sequence[str]]] = {
    "user": USER_FIELDS,
    "company": COMPANY_FIELDS,
    "user_company": USER_COMPANY_FIELDS,
}

# ------------------------------------------------------------------------------------------------- capture


def _authenticated_user(request: Any) -> Any:
    user = getattr(request, "user", None)
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def context_object(request: Any, part: ContextPart) -> Any:
    """The object of the request that ``part`` describes, or ``None`` (no authenticated user).

    ``user`` is ``request.user`` when authenticated; ``user_company`` is ``request.user_company``, else
    ``request.user.user_company``; ``company`` is ``request.company``, else ``request.user.company``, else the
    user company's ``company``.
    """
    user = _authenticated_user(request)
    if user is None:
        return None
    if part == "user":
        return user
    user_company = getattr(request, "user_company", None) or getattr(user, "user_company", None)
    if part == "user_company":
        return user_company
    return getattr(request, "company", None) or getattr(user, "company", None) or getattr(user_company, "company", None)


def _field_value(obj: Any, name: str) -> Any:
    value: Any = getattr(obj, name, None)
    if getattr(getattr(value, "_meta", None), "pk", None) is not None:  # a model instance: carry its primary key
        value = value.pk
    return to_json_value(f"request context field {name!r}", value)


def describe_object(obj: Any, fields: Sequence[str]) -> dict[str, Any] | None:
    """``fields`` of ``obj`` as JSON data (a related model instance as its primary key), or ``None``."""
    if obj is None:
        return None
    return {name: _field_value(obj, name) for name in fields}


def capture_context(
    request: Any,
    *,
    user_fields: Sequence[str] = USER_FIELDS,
    company_fields: Sequence[str] = COMPANY_FIELDS,
    user_company_fields: Sequence[str] = USER_COMPANY_FIELDS,
) -> dict[str, dict[str, Any] | None]:
    """The ``user``, ``company`` and ``user_company`` of a Django or DRF request, as event data.

    Merge it into a payload (``{**data, **capture_context(request)}``) or let a
    :class:`~tchu.contrib.django.serializers.RequestContextSerializer` add it. Without an authenticated user all
    three are ``None``.

    Example:
        >>> capture_context(request)
        {'user': {'id': 7, 'email': 'ada@example.com', 'first_name': 'Ada', 'last_name': 'L'},
         'company': {'id': 3, 'name': 'Acme'}, 'user_company': {'id': 11}}
    """
    fields: dict[ContextPart, Sequence[str]] = {
        "user": user_fields,
        "company": company_fields,
        "user_company": user_company_fields,
    }
    return {part: describe_object(context_object(request, part), fields[part]) for part in PARTS}


# ------------------------------------------------------------------------------------------------- rebuild


class ContextRecord:
    """One carried object (a company, a user company) with attribute access: ``record.id``, ``record.name``.

    ``pk`` is the ``id`` field; an attribute the event did not carry raises ``AttributeError``.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_data":
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r} in the event") from None

    @property
    def pk(self) -> Any:
        """The ``id`` field."""
        return self._data.get("id")

    def as_dict(self) -> dict[str, Any]:
        """The carried fields."""
        return dict(self._data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ContextRecord) and type(other) is type(self) and other._data == self._data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"


class EventUser(ContextRecord):
    """The user an event was published for, rebuilt from the event: no database query.

    Carries the published fields (``id``, ``email``, ``first_name``, ``last_name`` by default) and the event's
    ``company`` and ``user_company``; ``is_authenticated`` is ``True``, as for a logged-in user.
    """

    __slots__ = ("company", "user_company")
    is_authenticated: Final = True
    is_anonymous: Final = False

    def __init__(
        self, data: Mapping[str, Any], company: ContextRecord | None = None, user_company: ContextRecord | None = None
    ) -> None:
        super().__init__(data)
        self.company = company
        self.user_company = user_company


class AnonymousEventUser:
    """The user of an event published without one (a system job, or ``skip_authorization``)."""

    __slots__ = ("company", "user_company")
    id: Final = None
    pk: Final = None
    is_authenticated: Final = False
    is_anonymous: Final = True

    def __init__(self, company: ContextRecord | None = None, user_company: ContextRecord | None = None) -> None:
        self.company = company
        self.user_company = user_company

    def __repr__(self) -> str:
        return "AnonymousEventUser()"


@dataclass(frozen=True, slots=True)
class EventRequest:
    """A stand-in for the publisher's request: what serializers and permission checks read from it."""

    user: Any
    company: ContextRecord | None = None
    user_company: ContextRecord | None = None


def _record(value: Any) -> ContextRecord | None:
    return ContextRecord(value) if isinstance(value, Mapping) else None


def rebuild_request(data: Mapping[str, Any], *, load_user: bool = False) -> EventRequest:
    """The request an event was published from, rebuilt from its ``user``, ``company`` and ``user_company``.

    ``request.user`` is an :class:`EventUser` (an :class:`AnonymousEventUser` when the event carries no user).
    With ``load_user`` it is the user model instance instead, fetched by id (one query; the model's
    ``DoesNotExist`` when it is gone).

    Example:
        >>> @subscribe("order.placed")
        ... def confirm(data):
        ...     request = rebuild_request(data)
        ...     send_mail(to=request.user.email, subject=f"Order for {request.company.name}")
    """
    company = _record(data.get("company"))
    user_company = _record(data.get("user_company"))
    user_data = data.get("user")
    user: Any
    if not isinstance(user_data, Mapping) or user_data.get("id") is None:
        user = AnonymousEventUser(company, user_company)
    elif load_user:
        from django.contrib.auth import get_user_model  # noqa: PLC0415 -- needs configured settings

        user = get_user_model()._default_manager.get(pk=user_data["id"])  # noqa: SLF001 -- Django's API
    else:
        user = EventUser(user_data, company, user_company)
    return EventRequest(user, company, user_company)


def rebuild_request_context(data: Mapping[str, Any], *, load_user: bool = False) -> dict[str, Any]:
    """``{"request": rebuild_request(data)}``: the context helper of :class:`~tchu.events.TchuEvent`.

    Example:
        >>> TchuEvent.set_context_helper(rebuild_request_context)  # done by tchu.contrib.django.setup()
        >>> event.request_context["request"].user.email
    """
    return {"request": rebuild_request(data, load_user=load_user)}
