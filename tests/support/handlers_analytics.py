"""The analytics service of the README: tracks every user event, and everything."""

from recorder import record

from tchu import subscribe


@subscribe("user.*")
def track_user_event(event):
    record("track_user_event", event)


@subscribe("#")
def track_everything(event):
    record("track_everything", event)


# registering the same handler twice must not run it twice
subscribe("user.*")(track_user_event)
