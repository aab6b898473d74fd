"""Place an order through the orders service's API, as a client does, and print what it answered.

    python -m examples.django_orders.demo       # migrates the SQLite database, creates ada (of Acme) if needed
    celery -A examples.django_orders.celery worker --pool=solo -l INFO    # in another terminal: the handlers

The post_save signal publishes ``order.created`` and the view ``order.placed`` (with ada's user and company),
both once the order is committed. With ``python -m examples.django_orders.manage runserver`` running, the same
request is ``curl -u ada:ada-example-password -H 'Content-Type: application/json' -d '{"items": [{"id": 1,
"quantity": 2}], "total_amount": "19.50", "currency": "EUR"}' http://127.0.0.1:8000/api/orders/``.
"""

import json
import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_orders.settings")
PASSWORD = "ada-example-password"  # noqa: S105 -- the example's demo user


def member() -> Any:
    """ada, a member of Acme (created on first use)."""
    from django.contrib.auth import get_user_model  # noqa: PLC0415 -- after django.setup()

    from examples.django_orders.orders.models import Company, UserCompany  # noqa: PLC0415 -- after django.setup()

    user, created = get_user_model().objects.get_or_create(
        username="ada", defaults={"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}
    )
    if created:
        user.set_password(PASSWORD)
        user.save()
        UserCompany.objects.create(user=user, company=Company.objects.create(name="Acme"))
    return user


def main() -> None:
    django.setup()
    from django.core.management import call_command  # noqa: PLC0415 -- after django.setup()
    from rest_framework.test import APIClient  # noqa: PLC0415 -- after django.setup()

    call_command("migrate", verbosity=0)
    user = member()
    api = APIClient()
    api.force_authenticate(user)  # the test client logs ada in directly; over HTTP it is Basic authentication
    order = {"items": [{"id": 1, "quantity": 2}], "total_amount": "19.50", "currency": "EUR"}
    response = api.post("/api/orders/", order, format="json")
    body = response.json()
    print(f"POST /api/orders/ as {user.email}: HTTP {response.status_code}")
    print(f"order {body.get('id')} saved; order.created and order.placed (event {body.get('event_id')}) published")
    print(json.dumps({"status": response.status_code, "order": body, "user_id": user.pk}))


if __name__ == "__main__":
    main()
