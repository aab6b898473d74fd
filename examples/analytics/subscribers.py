"""Handlers of the analytics service."""

from typing import Any

from tchu import current_event, subscribe


@subscribe("user.*")
def track_user_event(event: Any) -> None:
    print(f"[analytics] user event {current_event().routing_key}: {event}")


@subscribe("#")
def count_every_event(_event: Any) -> None:
    info = current_event()
    print(f"[analytics] counted {info.routing_key} (event {info.event_id})")
