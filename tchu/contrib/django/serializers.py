"""DRF serializer fields that put the request's user, company and user company into an event.

With a request in the serializer's context (``event.serialize_request(data, context={"request": request})``)
the fields take their values from the request only, so a client cannot claim another identity in the posted
data. Without one (a consumer validating a delivered event) they take the carried values from the data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

try:
    from rest_framework import serializers
    from rest_framework.fields import SkipField, empty
except ImportError as exc:  # pragma: no cover -- exercised in a subprocess without DRF
    raise ImportError(
        'tchu.contrib.django.serializers needs Django REST framework: pip install "tchu[django]"'
    ) from exc

from tchu.contrib.django._context import DEFAULT_FIELDS, PARTS, ContextPart, context_object, describe_object


def _request(context: Mapping[str, Any]) -> Any:
    return context.get("request") if isinstance(context, Mapping) else None


class RequestContextField(serializers.Field):
    """The request's ``user``, ``company`` or ``user_company`` (``part``) as an object of its ``attributes``.

    Publishing (a request in the context): the value comes from the request, whatever the data holds; ``None``
    when the serializer was created with ``skip_authorization=True`` or no user is authenticated. Consuming (no
    request): the carried object is taken from the data, and left out when the data has none.
    """

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": "Expected an object (the request's {part}) or null."}

    def __init__(self, part: ContextPart, *, attributes: Sequence[str] | None = None, **kwargs: Any) -> None:
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)
        self.part = part
        self.attributes = tuple(attributes if attributes is not None else DEFAULT_FIELDS[part])

    def get_value(self, dictionary: Any) -> Any:
        if _request(self.context) is not None:
            return empty  # never from the posted data: get_default() reads the request
        return super().get_value(dictionary)

    def get_default(self) -> Any:
        if getattr(self.root, "skip_authorization", False):
            return None
        request = _request(self.context)
        if request is None:
            raise SkipField
        return describe_object(context_object(request, self.part), self.attributes)

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, Mapping):
            self.fail("invalid", part=self.part)
        return dict(data)

    def to_representation(self, value: Any) -> Any:
        return value


class RequestContextSerializer(serializers.Serializer):
    """A serializer whose validated data carries the request's ``user``, ``company`` and ``user_company``.

    Accepts tchu-tchu 2.2.3's ``skip_authorization`` and ``skip_reason`` keywords; with ``skip_authorization``
    the three are ``None``. Override a field to carry other attributes, e.g.
    ``user = RequestContextField("user", attributes=("id", "email", "username"))``.

    Example:
        >>> class OrderPlacedSerializer(RequestContextSerializer):
        ...     order_id = serializers.IntegerField()
        ...     items = serializers.JSONField()
        >>> event = OrderPlacedEvent()
        >>> event.serialize_request({"order_id": 7, "items": [...]}, context={"request": request})
        >>> event.validated_data["user"]
        {'id': 1, 'email': 'ada@example.com', 'first_name': 'Ada', 'last_name': 'Lovelace'}
    """

    user = RequestContextField("user")
    company = RequestContextField("company")
    user_company = RequestContextField("user_company")

    def __init__(
        self, *args: Any, skip_authorization: bool = False, skip_reason: str | None = None, **kwargs: Any
    ) -> None:
        self.skip_authorization = skip_authorization
        self.skip_reason = skip_reason
        super().__init__(*args, **kwargs)


__all__ = ["RequestContextField", "RequestContextSerializer"]
