"""Handlers of the users service."""

from typing import Any

from tchu import respond, subscribe


@subscribe("user.deleted")
def cleanup_user_data(event: Any) -> None:
    print(f"[users] cleaning up data for user {event['user_id']}")


@respond("user.validate")
def validate_user(data: Any) -> dict[str, Any]:
    email = str(data["email"])
    return {"valid": "@" in email and not email.endswith("@blocked.example"), "email": email}
