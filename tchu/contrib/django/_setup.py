"""One-line set-up of a Django project's Celery app as a tchu service, with its apps' subscribers modules."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from importlib import import_module
from typing import Any

import django
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import module_has_submodule

from tchu._celery.service import Service, services, setup_service
from tchu.contrib.django._context import rebuild_request_context
from tchu.errors import SetupError
from tchu.events import TchuEvent


def _django_ready() -> None:
    if apps.ready:
        return
    try:
        django.setup()
    except ImproperlyConfigured as exc:
        raise SetupError(
            f"Django is not configured ({exc}); set DJANGO_SETTINGS_MODULE before creating the Celery app"
        ) from exc


def discover_subscribers(module_name: str = "subscribers") -> list[str]:
    """``<app>.<module_name>`` of every installed app that has one, in ``INSTALLED_APPS`` order.

    Sets Django up first when it is not (as Celery does in a worker).

    Raises:
        SetupError: Django's settings are not configured.
    """
    _django_ready()
    return [
        f"{config.name}.{module_name}"
        for config in apps.get_app_configs()
        if module_has_submodule(config.module, module_name)
    ]


def import_subscribers(service: str, modules: Iterable[str]) -> None:
    """Import ``modules``, so their handlers are registered.

    Raises:
        SetupError: a module raised on import; the message names it and the error (the cause is chained).
    """
    for module in modules:
        try:
            import_module(module)
        # A failing module must stop the worker, and only a SetupError does; whatever the module raised is
        # named here and chained.
        except Exception as exc:
            raise SetupError(
                f"service {service!r}: subscribers module {module!r} raised on import: {type(exc).__name__}: {exc}"
            ) from exc


@dataclass
class DjangoService(Service):
    """A :class:`~tchu.Service` whose handler modules are found in the installed apps.

    The apps are searched when the handlers are first needed (a worker starting, the first publish, or
    :meth:`import_handlers`), so the Celery app can be set up before Django is.
    """

    subscribers_module: str | None = "subscribers"
    extra_modules: tuple[str, ...] = ()
    discovered: bool = False
    _discover_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def import_handlers(self) -> None:
        """Find the subscribers modules (once) and import them with the extra handler modules.

        Raises:
            SetupError: Django is not configured, or a module raised on import (named in the message).
        """
        with self._discover_lock:
            if not self.discovered:
                found = discover_subscribers(self.subscribers_module) if self.subscribers_module else []
                self.handler_modules = tuple(dict.fromkeys([*found, *self.extra_modules]))
                self.discovered = True
        import_subscribers(self.name, self.handler_modules)


def setup(
    app: Any,
    service: str,
    *,
    subscribers: str | None = "subscribers",
    handlers: Iterable[str] = (),
    request_context: bool = True,
    **options: Any,
) -> DjangoService:
    """Set up a Django project's Celery app as tchu service ``service`` in one call.

    Calls :func:`tchu.setup_service` with the ``<app>.subscribers`` module of every installed app (another
    module name with ``subscribers``, none with ``None``) plus ``handlers``. ``options`` are
    ``setup_service``'s keywords (``queue``, ``signer``, ``idempotency``, ``queue_type``, ...). When Django is
    already set up the modules are imported now; otherwise when a worker starts (after Celery sets Django up) or
    before the process first publishes. With ``request_context`` (the default) and no context helper set yet,
    :class:`~tchu.events.TchuEvent` rebuilds the publisher's request with :func:`rebuild_request_context`.

    Raises:
        SetupError: a subscribers module raised on import (named in the message), or bad ``options``.

    Example:
        >>> # proj/celery.py
        >>> os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
        >>> app = Celery("orders")
        >>> app.config_from_object("django.conf:settings", namespace="CELERY")
        >>> service = tchu.contrib.django.setup(app, service="orders")
    """
    base = setup_service(app, service, **options)
    svc = DjangoService(
        **{f.name: getattr(base, f.name) for f in fields(Service)},
        subscribers_module=subscribers,
        extra_modules=tuple(handlers),
    )
    services[app] = svc
    if request_context and TchuEvent.get_context_helper() is None:
        TchuEvent.set_context_helper(rebuild_request_context)
    if apps.ready:
        svc.import_handlers()
    return svc
