"""Handlers of the notifications service."""

from typing import Any

from tchu import subscribe


@subscribe("user.created")
def send_welcome_email(event: Any) -> None:
    print(f"[notifications] sending welcome email to {event['email']}")
