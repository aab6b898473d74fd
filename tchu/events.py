"""``TchuEvent``: an event class with request/response serializers, as in tchu-tchu 2.2.3.

A serializer class is a Pydantic model or a DRF serializer (anything with ``is_valid()``); DRF is never
imported here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from tchu.client import TchuClient
from tchu.envelope import to_json_value
from tchu.errors import FieldProblem, PayloadValidationError, SetupError
from tchu.publisher import DEFAULT_CALL_TIMEOUT
from tchu.router import default_handler_id, default_router
from tchu.typed import pydantic_problems

logger = logging.getLogger("tchu.events")

ContextHelper = Callable[[dict[str, Any]], dict[str, Any]]


class TchuEvent:
    """Base class for an event: ``Meta.topic`` and the serializers of its request and response.

    Example:
        >>> class UserCreatedEvent(TchuEvent):
        ...     class Meta:
        ...         topic = "user.created"
        ...         request_serializer_class = UserCreatedModel
        >>> event = UserCreatedEvent()
        >>> event.serialize_request({"user_id": 1, "email": "a@example.com", "name": "Ada"})
        >>> event_id = event.publish()
    """

    _context_helper: ClassVar[ContextHelper | None] = None

    def __init__(  # noqa: PLR0917 -- tchu-tchu 2.2.3's positional signature
        self,
        topic: str | None = None,
        request_serializer_class: Any = None,
        response_serializer_class: Any = None,
        handler: Callable[..., Any] | None = None,
        context_helper: ContextHelper | None = None,
        client: TchuClient | None = None,
    ) -> None:
        meta = getattr(self, "Meta", None)
        self.topic: str = topic or getattr(meta, "topic", None) or ""
        if not self.topic:
            raise SetupError(f"{type(self).__name__} needs a topic: set Meta.topic or pass topic=")
        self.request_serializer_class = request_serializer_class or getattr(meta, "request_serializer_class", None)
        self.response_serializer_class = response_serializer_class or getattr(meta, "response_serializer_class", None)
        self.handler = handler or getattr(meta, "handler", None)
        self.validated_data: dict[str, Any] | None = None
        self.context: dict[str, Any] | None = None
        self._instance_context_helper = context_helper
        self._client = client

    @classmethod
    def set_context_helper(cls, helper: ContextHelper | None) -> None:
        """Set the function that rebuilds a request context from event data, for every event class."""
        TchuEvent._context_helper = helper

    @classmethod
    def get_context_helper(cls) -> ContextHelper | None:
        """The global context helper, if one is set."""
        return TchuEvent._context_helper

    @property
    def client(self) -> TchuClient:
        """The client used by :meth:`publish` and :meth:`call` (created on first use)."""
        if self._client is None:
            self._client = TchuClient()
        return self._client

    def serialize_request(
        self,
        data: Mapping[str, Any],
        context: dict[str, Any] | None = None,
        skip_authorization: bool = False,
        skip_reason: str | None = None,
    ) -> dict[str, Any]:
        """Validate ``data`` with the request serializer and keep it as :attr:`validated_data`.

        Raises:
            PayloadValidationError: naming each failing field.
        """
        extra: dict[str, Any] = {}
        if skip_authorization:
            extra = {"skip_authorization": True, "skip_reason": skip_reason}
        self.validated_data = self._validate(self.request_serializer_class, data, context, extra)
        self.context = context
        return self.validated_data

    def serialize_response(self, data: Any, context: dict[str, Any] | None = None) -> Any:
        """Validate an RPC reply with the response serializer (returned unchanged when there is none)."""
        if self.response_serializer_class is None:
            return data
        return self._validate(self.response_serializer_class, data, context, {})

    def _validate(self, serializer: Any, data: Any, context: Any, extra: dict[str, Any]) -> dict[str, Any]:
        if serializer is None:
            return dict(to_json_value(f"payload for {self.topic!r}", dict(data)))
        if isinstance(serializer, type) and issubclass(serializer, BaseModel):
            try:
                return serializer.model_validate(data).model_dump(mode="json")
            except PydanticValidationError as exc:
                raise PayloadValidationError(self.topic, serializer.__name__, pydantic_problems(exc)) from exc
        # tchu-tchu 2.2.3 passes skip_authorization/skip_reason as constructor keywords; serializers written
        # for it accept them, so they are passed the same way.
        kwargs: dict[str, Any] = {"data": data, **extra}
        if context is not None:
            kwargs["context"] = context
        drf = serializer(**kwargs)
        if not drf.is_valid():
            raise PayloadValidationError(self.topic, serializer.__name__, list(_drf_problems(drf.errors, "$")))
        return dict(to_json_value(f"payload for {self.topic!r}", dict(drf.validated_data)))

    def _data(self) -> dict[str, Any]:
        if self.validated_data is None:
            raise SetupError(f"{type(self).__name__}: call serialize_request() before publish() or call()")
        return self.validated_data

    def publish(self) -> str:
        """Publish the validated request; returns the event id."""
        return self.client.publish(self.topic, self._data())

    def call(self, timeout: float = DEFAULT_CALL_TIMEOUT) -> Any:
        """Send the validated request as an RPC call and return the validated reply."""
        return self.serialize_response(self.client.call(self.topic, self._data(), timeout=timeout))

    def subscribe(self) -> str:
        """Register :attr:`handler` for this topic; it receives an instance of this event class."""
        handler = self.handler
        if handler is None:
            raise SetupError(f"{type(self).__name__} has no handler: set Meta.handler or pass handler=")
        cls = type(self)

        def handle(data: dict[str, Any]) -> Any:
            event = cls(
                topic=self.topic,
                request_serializer_class=self.request_serializer_class,
                response_serializer_class=self.response_serializer_class,
                handler=handler,
                context_helper=self._instance_context_helper,
                client=self._client,
            )
            event.serialize_request(data)
            return handler(event)

        handler_id = f"{cls.__module__}.{cls.__qualname__}:{default_handler_id(handler)}"
        return default_router.add(self.topic, handle, handler_id=handler_id).handler_id

    def get(self, key: str, default: Any = None) -> Any:
        """A field of the validated data, or ``default``."""
        return self._data().get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __contains__(self, key: object) -> bool:
        return self.validated_data is not None and key in self.validated_data

    @property
    def request_context(self) -> dict[str, Any] | None:
        """The context given to :meth:`serialize_request`, else the context helper's rebuild of the data."""
        if self.context is not None:
            return self.context
        helper = self._instance_context_helper or TchuEvent._context_helper
        if helper is None or not self.validated_data:
            return None
        return helper(self.validated_data)


def _drf_problems(errors: Any, path: str) -> list[FieldProblem]:
    if isinstance(errors, Mapping):
        out: list[FieldProblem] = []
        for key, value in errors.items():
            sub = path if key == "non_field_errors" else f"{path}.{key}"
            out += _drf_problems(value, sub)
        return out
    if isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors):
        return [FieldProblem(path, str(e)) for e in errors]
    if isinstance(errors, list):
        return [p for i, e in enumerate(errors) for p in _drf_problems(e, f"{path}[{i}]")]
    return [FieldProblem(path, str(errors))]
