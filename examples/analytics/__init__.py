"""The analytics service: tracks every user event and counts every event."""
