"""Handlers of the notifications service, typed by the generated catalog package."""

from generated import UserCreated, on_user_created


@on_user_created
def send_welcome_email(event: UserCreated) -> None:
    print(f"[notifications] sending welcome email to {event.email} ({event.plan} plan)")
