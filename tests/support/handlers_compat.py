"""A tchu service beside tchu-tchu services: the same subscriptions as tests/support/legacy_svc.py."""

from recorder import record

from tchu import subscribe


@subscribe("user.created")
def compat_user_created(event):
    record("compat_user_created", event)


@subscribe("user.*")
def compat_user_event(event):
    record("compat_user_event", event)
