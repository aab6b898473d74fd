"""The users service of the README: cleans up on user.deleted and validates users over RPC."""

from recorder import record

from tchu import respond, subscribe


@subscribe("user.deleted")
def cleanup_user_data(event):
    record("cleanup_user_data", event)


@respond("user.validate")
def validate_user(data):
    record("validate_user", data)
    if data.get("email") == "boom@example.com":
        raise ValueError("email domain is blocked")
    if data.get("email") == "slow@example.com":
        import time  # noqa: PLC0415

        time.sleep(3)
    return {"valid": "@" in data.get("email", ""), "email": data.get("email")}
