"""Scenarios of tchu.contrib.django, run in a subprocess so Django's process-wide settings stay out of pytest.

    python -m django_scenarios NAME [NAME ...]

prints one JSON object: for each scenario ``{"result": ...}`` or ``{"error": "<traceback>"}``. Scenarios named
``lazy_*`` run before Django is set up; the others after ``django.setup()`` and ``migrate``. Integration
scenarios read TCHU_TEST_BROKER_URL and the queue the test bound, TCHU_TEST_PROBE_QUEUE.
"""

# ruff: noqa: PLC0415 -- Django and the project's modules are imported inside scenarios, after django.setup()

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from decimal import Decimal

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_project.settings")

SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


ITEMS = [{"id": 1, "quantity": 2}]


def roll_back(why):
    raise RuntimeError(why)


def recording_client(catalog=None):
    from doubles import RecordingTransport

    from tchu import Catalog, TchuClient

    return TchuClient(transport=RecordingTransport(), catalog=catalog if catalog is not None else Catalog())


def pending_on_commit():
    from django.db import connection

    return len(connection.run_on_commit)


def make_member(username="ada", company_name="Acme"):
    from django.contrib.auth import get_user_model
    from django_project.shop.models import Company, UserCompany

    user = get_user_model().objects.create_user(
        username=username, email=f"{username}@example.com", first_name=username.title(), last_name="Lovelace"
    )
    company = Company.objects.create(name=company_name)
    membership = UserCompany.objects.create(user=user, company=company)
    return user, company, membership


def api_request(user=None, path="/orders/"):
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory, force_authenticate

    raw = APIRequestFactory().post(path, {}, format="json")
    if user is not None:
        force_authenticate(raw, user=user)
        raw.user = user  # what AuthenticationMiddleware sets for a plain Django request
    return raw, Request(raw)


# ------------------------------------------------------------------------------------- unit: request context


@scenario
def capture_from_requests():
    from django.contrib.auth.models import AnonymousUser

    from tchu.contrib.django import capture_context

    user, company, membership = make_member()
    raw, drf = api_request(user)
    anonymous, _ = api_request()
    anonymous.user = AnonymousUser()
    return {
        "django": capture_context(raw),
        "drf": capture_context(drf),
        "anonymous": capture_context(anonymous),
        "custom": capture_context(raw, user_fields=("id", "username"), company_fields=("name",)),
        "ids": [user.pk, company.pk, membership.pk],
    }


@scenario
def serializer_publishing():
    """A request in the context: the identity comes from it, never from the posted data."""
    from django_project.shop.serializers import OrderPlacedSerializer

    from tchu import PayloadValidationError
    from tchu.contrib.django.serializers import RequestContextField

    user, company, membership = make_member("grace", "Navy")
    _, request = api_request(user)
    spoofed = {"order_id": 1, "items": ITEMS, "total": "9.50", "currency": "EUR", "user": {"id": 999}}
    s = OrderPlacedSerializer(data=spoofed, context={"request": request})
    assert s.is_valid(), s.errors
    skipped = OrderPlacedSerializer(
        data=spoofed, context={"request": request}, skip_authorization=True, skip_reason="nightly job"
    )
    assert skipped.is_valid(), skipped.errors
    no_request = OrderPlacedSerializer(data={k: v for k, v in spoofed.items() if k != "user"})
    assert no_request.is_valid(), no_request.errors
    _, anonymous_request = api_request()
    anonymous = OrderPlacedSerializer(data=spoofed, context={"request": anonymous_request})
    assert anonymous.is_valid(), anonymous.errors
    try:
        RequestContextField("tenant")
    except ValueError as exc:
        bad_part = str(exc)
    from django_project.shop.events import OrderPlacedEvent

    event = OrderPlacedEvent(client=recording_client())
    event.serialize_request(spoofed, context={"request": request})
    try:
        OrderPlacedEvent().serialize_request({**spoofed, "order_id": "x"}, context={"request": request})
    except PayloadValidationError as exc:
        errors = exc.errors()
    return {
        "validated": {k: s.validated_data.get(k) for k in ("user", "company", "user_company")},
        "skipped": {k: skipped.validated_data.get(k, "absent") for k in ("user", "company", "user_company")},
        "skip_reason": skipped.skip_reason,
        "no_request_keys": sorted(no_request.validated_data),
        "anonymous": {k: anonymous.validated_data.get(k, "absent") for k in ("user", "company", "user_company")},
        "event_payload": event.validated_data,
        "errors": errors,
        "bad_part": bad_part,
        "ids": [user.pk, company.pk, membership.pk],
    }


@scenario
def serializer_consuming():
    """No request in the context (a consumer): the carried values are taken from the event data."""
    from django_project.shop.serializers import OrderPlacedSerializer

    from tchu import PayloadValidationError
    from tchu.contrib.django import EventUser, rebuild_request_context
    from tchu.events import TchuEvent

    carried = {
        "order_id": 3,
        "items": ITEMS,
        "total": "1.00",
        "currency": "EUR",
        "user": {"id": 5, "email": "e@example.com", "first_name": "E", "last_name": "F"},
        "company": {"id": 8, "name": "Initech"},
        "user_company": {"id": 13},
    }
    s = OrderPlacedSerializer(data=carried)
    assert s.is_valid(), s.errors
    bad = OrderPlacedSerializer(data={**carried, "company": "Initech"})
    event = TchuEvent(
        topic="shop.order.placed",
        request_serializer_class=OrderPlacedSerializer,
        context_helper=rebuild_request_context,
    )
    event.serialize_request(carried)
    request = event.request_context["request"]
    try:
        TchuEvent(topic="shop.order.placed", request_serializer_class=OrderPlacedSerializer).serialize_request(
            {**carried, "user": [1]}
        )
    except PayloadValidationError as exc:
        errors = exc.errors()
    return {
        "validated": {k: s.validated_data[k] for k in ("user", "company", "user_company")},
        "bad_valid": bad.is_valid(),
        "bad_errors": {k: [str(e) for e in v] for k, v in bad.errors.items()},
        "rebuilt": [
            isinstance(request.user, EventUser),
            request.user.id,
            request.user.email,
            request.user.company.name,
            request.user.user_company.id,
            request.company.id,
        ],
        "errors": errors,
    }


@scenario
def load_user_from_the_database():
    from tchu.contrib.django import rebuild_request

    user, _, _ = make_member("linus", "Kernel")
    loaded = rebuild_request({"user": {"id": user.pk}, "company": {"id": 1, "name": "Kernel"}}, load_user=True)
    try:
        rebuild_request({"user": {"id": 10_000}}, load_user=True)
    except Exception as exc:
        missing = type(exc).__name__
    return {
        "type": type(loaded.user).__name__,
        "same": loaded.user == user,
        "company": loaded.company.name,
        "missing": missing,
    }


# ------------------------------------------------------------------------------- unit: publish on commit


@scenario
def commit_sends_after_commit():
    from django.db import transaction

    from tchu.contrib.django import publish_on_commit

    client = recording_client()
    sent = client.transport.sent
    with transaction.atomic():
        event_id = publish_on_commit(client, "shop.order.created", {"order_id": 1})
        with transaction.atomic():  # a savepoint that commits: still only at the outer commit
            inner_id = publish_on_commit(client, "shop.order.created", {"order_id": 2})
        inside = len(sent)
    return {
        "inside": inside,
        "after": [e.payload for e in sent],
        "ids": [e.event_id for e in sent] == [event_id, inner_id],
    }


@scenario
def rollback_sends_nothing():
    from django.db import transaction
    from django_project.shop.models import Order

    from tchu.contrib.django import publish_on_commit

    client = recording_client()
    sent = client.transport.sent
    try:
        with transaction.atomic():
            publish_on_commit(client, "shop.order.created", {"order_id": 1})
            roll_back("rolled back")
    except RuntimeError:
        pass
    after_rollback = len(sent)
    with transaction.atomic():
        publish_on_commit(client, "shop.order.created", {"order_id": 2})
        try:
            with transaction.atomic():  # a savepoint rolled back: its event is dropped, the outer one is not
                publish_on_commit(client, "shop.order.created", {"order_id": 3})
                roll_back("savepoint rolled back")
        except RuntimeError:
            pass
    return {"after_rollback": after_rollback, "after": [e.payload for e in sent], "orders": Order.objects.count()}


@scenario
def invalid_raises_at_the_call():
    from django.db import transaction
    from django_project.shop.events import OrderCreatedEvent

    import generated  # noqa: F401 -- registers the catalog's schemas with the default catalog
    from tchu import PayloadValidationError, default_catalog
    from tchu.contrib.django import publish_on_commit

    client = recording_client(default_catalog)
    out = {}
    with transaction.atomic():
        try:
            publish_on_commit(client, "user.created", {"user_id": 0, "email": "x"})
        except PayloadValidationError as exc:
            out["catalog"] = [path for path, _ in exc.errors()]
        try:
            OrderCreatedEvent(client=client).serialize_request({"order_id": "seven", "items": ITEMS})
        except PayloadValidationError as exc:
            out["serializer"] = [path for path, _ in exc.errors()]
        out["pending"] = pending_on_commit()
    out["sent"] = len(client.transport.sent)
    return out


@scenario
def catalog_model_on_commit():
    from django.db import transaction

    from generated import Money, OrderCreated, OrderItem
    from tchu import default_catalog
    from tchu.contrib.django import publish_on_commit

    client = recording_client(default_catalog)
    model = OrderCreated(
        order_id=7, user_id=1, items=[OrderItem(id=1, quantity=2)], total=Money(amount=1, currency="EUR")
    )
    with transaction.atomic():
        publish_on_commit(client, "order.created", model)
        inside = len(client.transport.sent)
    (sent,) = client.transport.sent
    return {"inside": inside, "payload": sent.payload, "schema_version": sent.schema_version}


@scenario
def outside_a_transaction_sends_at_once():
    from tchu.contrib.django import publish_on_commit

    client = recording_client()
    publish_on_commit(client, "shop.order.created", {"order_id": 1})
    return {"sent": len(client.transport.sent)}


@scenario
def tchu_event_on_commit():
    from django.db import transaction
    from django_project.shop.events import OrderCreatedEvent

    from tchu import SetupError
    from tchu.contrib.django import publish_on_commit

    client = recording_client()
    event = OrderCreatedEvent(client=client)
    event.serialize_request({"order_id": 4, "items": ITEMS, "total": "2.50", "currency": "EUR"})
    with transaction.atomic():
        event_id = publish_on_commit(event)
        inside = len(client.transport.sent)
    errors = []
    try:
        publish_on_commit(OrderCreatedEvent(client=client))
    except SetupError as exc:
        errors.append(str(exc))
    try:
        publish_on_commit(event, "other.topic", {})
    except TypeError as exc:
        errors.append(str(exc))
    try:
        publish_on_commit(client, None, {"a": 1})
    except SetupError as exc:
        errors.append(str(exc))
    (sent,) = client.transport.sent
    return {
        "inside": inside,
        "routing_key": sent.routing_key,
        "payload": sent.payload,
        "id_ok": sent.event_id == event_id,
        "errors": errors,
    }


class FailingTransport:
    def __init__(self):
        self.attempts = 0

    def send(self, envelope):
        from tchu import PublishError

        self.attempts += 1
        raise PublishError(f"broker gone ({envelope.routing_key})")

    def call(self, envelope, timeout):
        raise NotImplementedError


@scenario
def failing_send_after_commit():
    from django.db import transaction
    from django_project.shop.models import Order

    from tchu import Catalog, PublishError, TchuClient
    from tchu.contrib.django import publish_on_commit

    transport = FailingTransport()
    client = TchuClient(transport=transport, catalog=Catalog())
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logging.getLogger("django.db.backends.base").addHandler(Keep())
    with transaction.atomic():
        Order.objects.create(items=ITEMS, total=Decimal("1.00"), currency="EUR")
        publish_on_commit(client, "shop.order.created", {"order_id": 1}, robust=True)
    raised = None
    try:
        with transaction.atomic():
            Order.objects.create(items=ITEMS, total=Decimal("2.00"), currency="EUR")
            publish_on_commit(client, "shop.order.created", {"order_id": 2})
    except PublishError as exc:
        raised = str(exc)
    return {
        "attempts": transport.attempts,
        "logged": any("broker gone" in r for r in records),
        "raised": raised,
        "orders": Order.objects.count(),
    }


# --------------------------------------------------------------------------------- unit: set-up, discovery


@scenario
def discover_when_django_is_ready():
    from django_project import celery_app

    from tchu import TchuEvent, default_router
    from tchu._celery.common import new_app
    from tchu._celery.service import services
    from tchu.contrib.django import DjangoService, rebuild_request_context, setup

    svc = celery_app.service
    other = setup(new_app("other", "memory://"), "other", subscribers="events", handlers=["recorder"])
    none = setup(new_app("none", "memory://"), "none", subscribers=None, request_context=False)
    return {
        "type": type(svc).__name__,
        "registered": services[celery_app.app] is svc and isinstance(svc, DjangoService),
        "modules": list(svc.handler_modules),
        "patterns": svc.patterns(),
        "other": list(other.handler_modules),
        "none": list(none.handler_modules),
        "queue": svc.queue_name,
        "routes": celery_app.app.conf.task_routes,
        "helper": TchuEvent.get_context_helper() is rebuild_request_context,
        "handlers": sorted(s.handler_id for s in default_router.subscriptions()),
    }


@scenario
def lazy_discover_after_django_setup():
    import django
    from django.apps import apps
    from django_project import celery_app

    before = {"ready": apps.ready, "modules": list(celery_app.service.handler_modules)}
    imported_early = "django_project.shop.subscribers" in sys.modules
    patterns = celery_app.service.patterns()  # as a starting worker or the first publish asks
    after = {"ready": apps.ready, "modules": list(celery_app.service.handler_modules), "patterns": patterns}
    django.setup()  # a no-op now: patterns() set Django up
    return {"before": before, "imported_early": imported_early, "after": after}


@scenario
def broken_subscribers_module():
    from tchu import SetupError
    from tchu._celery.common import new_app
    from tchu.contrib.django import setup

    try:
        setup(new_app("billing", "memory://"), "billing")
    except SetupError as exc:
        return {"message": str(exc), "cause": type(exc.__cause__).__name__}
    return {"message": None}


@scenario
def lazy_broken_subscribers_module():
    from tchu import SetupError
    from tchu._celery.common import new_app
    from tchu.contrib.django import setup

    svc = setup(new_app("billing", "memory://"), "billing")
    try:
        svc.import_handlers()
    except SetupError as exc:
        return {"message": str(exc), "cause": type(exc.__cause__).__name__}
    return {"message": None}


# ------------------------------------------------------------------------------- integration: real broker


def probe_depth():
    from kombu import Connection

    with Connection(os.environ["TCHU_TEST_BROKER_URL"]) as conn:
        _, count, _ = conn.default_channel.queue_declare(os.environ["TCHU_TEST_PROBE_QUEUE"], passive=True)
    return int(count)


def broker_client():
    from django_project import celery_app
    from django_project.shop.events import use_client

    from tchu import TchuClient

    client = TchuClient(celery_app.app)
    use_client(client)
    return client


@scenario
def broker_commit():
    from django.db import transaction
    from django_project.shop.models import Order

    broker_client()
    with transaction.atomic():
        order = Order.objects.create(items=ITEMS, total=Decimal("19.50"), currency="EUR")
        depth_inside = probe_depth()
    return {"inside": depth_inside, "after": probe_depth(), "event_id": order.created_event_id, "order_id": order.pk}


@scenario
def broker_rollback():
    from django.db import transaction
    from django_project.shop.models import Order

    from tchu.contrib.django import publish_on_commit

    client = broker_client()
    try:
        with transaction.atomic():
            Order.objects.create(items=ITEMS, total=Decimal("19.50"), currency="EUR")
            inside = probe_depth()
            roll_back("payment declined")
    except RuntimeError:
        pass
    after_rollback = probe_depth()
    control = publish_on_commit(client, "shop.control", {"after": "rollback"})  # no transaction: sent at once
    return {
        "inside": inside,
        "after_rollback": after_rollback,
        "orders": Order.objects.count(),
        "control": control,
    }


@scenario
def broker_invalid():
    from django.db import transaction
    from django_project.shop.events import OrderCreatedEvent

    from tchu import PayloadValidationError
    from tchu.contrib.django import publish_on_commit

    client = broker_client()
    raised = []
    with transaction.atomic():
        for bad in ({"order_id": 0, "items": ITEMS, "total": "1", "currency": "EUR"}, {"order_id": 1}):
            event = OrderCreatedEvent(client=client)
            try:
                event.serialize_request(bad)
                publish_on_commit(event)
            except PayloadValidationError as exc:
                raised.append([path for path, _ in exc.errors()])
        pending = pending_on_commit()
    control = publish_on_commit(client, "shop.control", {"after": "invalid"})
    return {"raised": raised, "pending": pending, "control": control}


@scenario
def broker_view():
    from rest_framework.test import APIClient

    broker_client()
    user, company, membership = make_member("ada", "Acme")
    api = APIClient()
    api.force_authenticate(user)
    body = {"items": ITEMS, "total": "19.50", "currency": "EUR", "user": {"id": 999, "email": "mallory@example.com"}}
    response = api.post("/orders/", body, format="json")
    rejected = APIClient().post("/orders/", body, format="json")
    return {
        "status": response.status_code,
        "body": response.json(),
        "anonymous_status": rejected.status_code,
        "ids": {"user": user.pk, "company": company.pk, "user_company": membership.pk},
    }


# ------------------------------------------------------------------------------------------------- runner


def main(names):
    if not all(name.startswith("lazy_") for name in names):
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", run_syncdb=True, verbosity=0)
        if "django_project.shop" in django.conf.settings.INSTALLED_APPS:
            from django_project.shop.events import use_client

            use_client(recording_client())  # the integration scenarios put a client on the test's broker
    out = {}
    for name in names:
        try:
            out[name] = {"result": SCENARIOS[name]()}
        except Exception:
            out[name] = {"error": traceback.format_exc()}
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
