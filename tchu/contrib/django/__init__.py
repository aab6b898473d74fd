"""Django integration: one-line service set-up, publishing on commit, and the request context in events.

``setup(app, service="orders")`` sets a Django project's Celery app up as a tchu service whose handlers are the
``subscribers`` modules of its installed apps. ``publish_on_commit(event)`` validates now and publishes once the
transaction commits. :func:`capture_context` and the DRF fields of :mod:`tchu.contrib.django.serializers` put
the request's user, company and user company into an event; :func:`rebuild_request` gives them back to
consumers as a lightweight request.

Needs the ``django`` extra: ``pip install "tchu[django]"``.
"""

try:
    import django as _django
except ImportError as exc:
    raise ImportError('tchu.contrib.django needs Django: pip install "tchu[django]"') from exc

from tchu.contrib.django._commit import publish_on_commit
from tchu.contrib.django._context import (
    AnonymousEventUser,
    ContextRecord,
    EventRequest,
    EventUser,
    capture_context,
    rebuild_request,
    rebuild_request_context,
)
from tchu.contrib.django._setup import DjangoService, discover_subscribers, setup

del _django

__all__ = [
    "AnonymousEventUser",
    "ContextRecord",
    "DjangoService",
    "EventRequest",
    "EventUser",
    "capture_context",
    "discover_subscribers",
    "publish_on_commit",
    "rebuild_request",
    "rebuild_request_context",
    "setup",
]
