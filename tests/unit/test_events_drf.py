"""TchuEvent with real Django REST framework serializers, as tchu-tchu 2.2.3's README uses them.

Django is configured in a subprocess, so this process never imports it (``import tchu`` must not either).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

UNIT = Path(__file__).resolve().parent

SCRIPT = textwrap.dedent(
    """
    import json

    import django
    from django.conf import settings

    settings.configure(INSTALLED_APPS=["rest_framework"], USE_TZ=True)
    django.setup()

    from doubles import RecordingTransport
    from rest_framework import serializers

    from tchu import Catalog, PayloadValidationError, TchuClient
    from tchu.events import TchuEvent


    class RequestSerializer(serializers.Serializer):
        user_id = serializers.IntegerField()
        email = serializers.EmailField()
        name = serializers.CharField()
        profile = serializers.JSONField(required=False)
        amount = serializers.DecimalField(max_digits=8, decimal_places=2, required=False)


    class UserCreatedEvent(TchuEvent):
        class Meta:
            topic = "user.created"
            request_serializer_class = RequestSerializer


    transport = RecordingTransport()
    event = UserCreatedEvent(client=TchuClient(transport=transport, catalog=Catalog()))
    event.serialize_request(
        {"user_id": "123", "email": "user@example.com", "name": "John Doe", "profile": {"a": [1, 2]}, "amount": "9.50"}
    )
    event_id = event.publish()
    try:
        UserCreatedEvent().serialize_request({"user_id": "x", "email": "nope", "name": ""})
    except PayloadValidationError as exc:
        errors = exc.errors()
    (sent,) = transport.sent
    print(json.dumps({"payload": sent.payload, "id_ok": sent.event_id == event_id, "errors": errors}))
    """
)


def test_drf_serializers_validate_and_publish_like_tchu_tchu_2_2_3() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=UNIT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PYTHONPATH": str(UNIT), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["payload"] == {
        "user_id": 123,
        "email": "user@example.com",
        "name": "John Doe",
        "profile": {"a": [1, 2]},
        "amount": 9.5,
    }
    assert result["id_ok"] is True
    assert [path for path, _ in result["errors"]] == ["$.user_id", "$.email", "$.name"]
