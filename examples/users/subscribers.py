"""Handlers of the users service: a plain subscription and a typed RPC responder."""

from typing import Any

from generated import UserValidate, UserValidateResponse, responds_user_validate
from tchu import subscribe


@subscribe("user.deleted")
def cleanup_user_data(event: Any) -> None:
    print(f"[users] cleaning up data for user {event['user_id']}")


@responds_user_validate
def validate_user(request: UserValidate) -> UserValidateResponse:
    blocked = request.email.endswith("@blocked.example")
    return UserValidateResponse(valid=not blocked, email=request.email, reason="blocked domain" if blocked else None)
