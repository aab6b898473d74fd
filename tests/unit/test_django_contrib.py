"""tchu.contrib.django with a real Django project (tests/support/django_project) and real DRF serializers.

Django's settings are process-wide, so every scenario runs in a subprocess (tests/support/django_scenarios.py)
and reports JSON; this process never configures Django. No broker is needed: clients record what they send.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = ROOT / "tests" / "support"
UNIT = ROOT / "tests" / "unit"

SHOP_AND_AUDIT = "django_project.shop,django_project.audit"
WITH_BROKEN = "django_project.shop,django_project.broken"

IN_ONE_PROCESS = [
    "capture_from_requests",
    "serializer_publishing",
    "serializer_consuming",
    "load_user_from_the_database",
    "commit_sends_after_commit",
    "rollback_sends_nothing",
    "invalid_raises_at_the_call",
    "outside_a_transaction_sends_at_once",
    "catalog_model_on_commit",
    "tchu_event_on_commit",
    "failing_send_after_commit",
    "discover_when_django_is_ready",
]


def run_scenarios(tmp: Path, *names: str, apps: str = SHOP_AND_AUDIT) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TCHU_", "DJANGO_", "CELERY_"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(SUPPORT), str(UNIT), str(ROOT)]),
        TCHU_TEST_DJANGO_APPS=apps,
        TCHU_TEST_DJANGO_DB=str(tmp / "db.sqlite3"),
        TCHU_TEST_BROKER_URL="memory://",  # nothing here may reach RabbitMQ
    )
    out = subprocess.run(
        [sys.executable, "-m", "django_scenarios", *names],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_scenarios(tmp_path_factory.mktemp("django"), *IN_ONE_PROCESS)


def result_of(results: dict, name: str):
    outcome = results[name]
    assert "error" not in outcome, outcome["error"]
    return outcome["result"]


# ------------------------------------------------------------------------------------------ request context


def test_capture_context_from_django_and_drf_requests(results):
    r = result_of(results, "capture_from_requests")
    user_id, company_id, membership_id = r["ids"]
    expected = {
        "user": {"id": user_id, "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
        "company": {"id": company_id, "name": "Acme"},
        "user_company": {"id": membership_id},
    }
    assert r["django"] == expected
    assert r["drf"] == expected
    assert r["anonymous"] == {"user": None, "company": None, "user_company": None}
    assert r["custom"] == {
        "user": {"id": user_id, "username": "ada"},
        "company": {"name": "Acme"},
        "user_company": {"id": membership_id},
    }


def test_serializer_takes_the_identity_from_the_request_never_from_the_data(results):
    r = result_of(results, "serializer_publishing")
    user_id, company_id, membership_id = r["ids"]
    context = {
        "user": {"id": user_id, "email": "grace@example.com", "first_name": "Grace", "last_name": "Lovelace"},
        "company": {"id": company_id, "name": "Navy"},
        "user_company": {"id": membership_id},
    }
    assert r["validated"] == context  # the posted {"user": {"id": 999}} is ignored
    assert r["event_payload"] == {
        **context,
        "order_id": 1,
        "items": [{"id": 1, "quantity": 2}],
        "total": 9.5,
        "currency": "EUR",
    }
    assert r["errors"] == [["$.order_id", "A valid integer is required."]]


def test_serializer_context_fields_with_skip_authorization_anonymous_or_no_request(results):
    r = result_of(results, "serializer_publishing")
    assert r["skipped"] == {"user": None, "company": None, "user_company": None}
    assert r["skip_reason"] == "nightly job"
    assert r["anonymous"] == {"user": None, "company": None, "user_company": None}
    assert r["no_request_keys"] == ["currency", "items", "order_id", "total"]
    assert "got 'tenant'" in r["bad_part"]


def test_consumers_take_the_carried_context_and_rebuild_the_request(results):
    r = result_of(results, "serializer_consuming")
    assert r["validated"] == {
        "user": {"id": 5, "email": "e@example.com", "first_name": "E", "last_name": "F"},
        "company": {"id": 8, "name": "Initech"},
        "user_company": {"id": 13},
    }
    assert r["bad_valid"] is False
    assert r["bad_errors"] == {"company": ["Expected an object (the request's company) or null."]}
    assert r["rebuilt"] == [True, 5, "e@example.com", "Initech", 13, 8]
    assert r["errors"] == [["$.user", "Expected an object (the request's user) or null."]]


def test_load_user_fetches_the_user_model_instance(results):
    r = result_of(results, "load_user_from_the_database")
    assert r == {"type": "User", "same": True, "company": "Kernel", "missing": "DoesNotExist"}


# ---------------------------------------------------------------------------------------- publish on commit


def test_publish_on_commit_sends_only_when_the_outer_transaction_commits(results):
    r = result_of(results, "commit_sends_after_commit")
    assert r["inside"] == 0
    assert r["after"] == [{"order_id": 1}, {"order_id": 2}]
    assert r["ids"] is True


def test_rollback_sends_nothing_and_a_rolled_back_savepoint_drops_its_events(results):
    r = result_of(results, "rollback_sends_nothing")
    assert r["after_rollback"] == 0
    assert r["after"] == [{"order_id": 2}]


def test_invalid_payloads_raise_at_the_call_and_queue_nothing(results):
    r = result_of(results, "invalid_raises_at_the_call")
    assert r["catalog"] == ["$.email", "$.name", "$.user_id"]  # user.created's catalog schema
    assert r["serializer"] == ["$.order_id", "$.total", "$.currency"]  # the event's DRF serializer
    assert r["pending"] == 0
    assert r["sent"] == 0


def test_a_catalog_model_is_published_on_commit_as_its_schema_version(results):
    r = result_of(results, "catalog_model_on_commit")
    assert r["inside"] == 0
    assert r["payload"] == {
        "order_id": 7,
        "user_id": 1,
        "items": [{"id": 1, "quantity": 2}],
        "total": {"amount": 1.0, "currency": "EUR"},
        "coupon": None,
    }
    assert r["schema_version"] == 1


def test_outside_a_transaction_the_event_is_sent_at_once(results):
    assert result_of(results, "outside_a_transaction_sends_at_once") == {"sent": 1}


def test_tchu_event_is_published_on_commit_with_its_validated_data(results):
    r = result_of(results, "tchu_event_on_commit")
    assert r["inside"] == 0
    assert r["routing_key"] == "shop.order.created"
    assert r["payload"] == {"order_id": 4, "items": [{"id": 1, "quantity": 2}], "total": 2.5, "currency": "EUR"}
    assert r["id_ok"] is True
    assert r["errors"] == [
        "OrderCreatedEvent: call serialize_request() before publish_on_commit()",
        "publish_on_commit(event) takes no topic or data: the event has both",
        "publish_on_commit(client, topic, data) needs the topic to publish to",
    ]


def test_a_failing_send_after_commit_keeps_the_data_and_is_logged_or_raised(results):
    r = result_of(results, "failing_send_after_commit")
    assert r == {"attempts": 2, "logged": True, "raised": "broker gone (shop.order.created)", "orders": 2}


# ---------------------------------------------------------------------------------------- set-up, discovery


def test_setup_finds_the_subscribers_modules_of_the_installed_apps(results):
    r = result_of(results, "discover_when_django_is_ready")
    assert r["type"] == "DjangoService"
    assert r["registered"] is True
    assert r["modules"] == ["django_project.shop.subscribers", "django_project.audit.subscribers"]
    assert r["patterns"] == ["shop.order.placed", "shop.ping"]
    assert r["handlers"] == [
        "django_project.audit.subscribers.OrderPlaced:django_project.audit.subscribers.audit_order",
        "django_project.audit.subscribers.audit_raw",
        "django_project.shop.subscribers.answer_ping",
    ]
    assert r["queue"] == "shop_queue"
    assert r["routes"] == {"tchu_tchu.dispatch_event": {"queue": "shop_queue"}}
    assert r["helper"] is True


def test_setup_takes_another_module_name_extra_handlers_or_none(results):
    r = result_of(results, "discover_when_django_is_ready")
    assert r["other"] == ["django_project.shop.events", "recorder"]
    assert r["none"] == []


def test_setup_before_django_discovers_when_the_handlers_are_first_needed(tmp_path):
    r = result_of(run_scenarios(tmp_path, "lazy_discover_after_django_setup"), "lazy_discover_after_django_setup")
    assert r["before"] == {"ready": False, "modules": []}
    assert r["imported_early"] is False
    assert r["after"] == {
        "ready": True,
        "modules": ["django_project.shop.subscribers", "django_project.audit.subscribers"],
        "patterns": ["shop.order.placed", "shop.ping"],
    }


BROKEN = (
    "service 'billing': subscribers module 'django_project.broken.subscribers' raised on import: "
    "RuntimeError: PAYMENTS_GATEWAY_URL is not set"
)


@pytest.mark.parametrize("name", ["broken_subscribers_module", "lazy_broken_subscribers_module"])
def test_a_failing_subscribers_module_is_named(tmp_path, name):
    r = result_of(run_scenarios(tmp_path, name, apps=WITH_BROKEN), name)
    assert r == {"message": BROKEN, "cause": "RuntimeError"}


# -------------------------------------------------------------------------------------------- install hint

BLOCK = textwrap.dedent(
    """
    import importlib, sys

    class Block:
        # Django (or only DRF) is not installed, as far as imports can tell
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    BLOCKED = set(sys.argv[1].split(","))
    sys.meta_path.insert(0, Block())
    try:
        importlib.import_module(sys.argv[2])
    except ImportError as exc:
        print(type(exc).__name__, str(exc), type(exc.__cause__).__name__, sep="|")
    else:
        print("imported")
    """
)


def import_without(blocked: str, module: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "DJANGO_"))}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [sys.executable, "-c", BLOCK, blocked, module],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_without_django_the_import_error_gives_the_install_hint():
    assert import_without("django", "tchu.contrib.django") == (
        'ImportError|tchu.contrib.django needs Django: pip install "tchu[django]"|ModuleNotFoundError'
    )


def test_without_drf_the_serializers_import_error_gives_the_install_hint():
    assert import_without("rest_framework", "tchu.contrib.django") == "imported"  # only the DRF fields need it
    assert import_without("rest_framework", "tchu.contrib.django.serializers") == (
        "ImportError|tchu.contrib.django.serializers needs Django REST framework: "
        'pip install "tchu[django]"|ModuleNotFoundError'
    )


def test_tchu_itself_imports_without_django():
    assert import_without("django,rest_framework", "tchu") == "imported"
