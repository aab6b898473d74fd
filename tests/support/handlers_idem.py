"""Two handlers of one event: the first is quick, the second takes its time (a worker is killed during it)."""

import time

from recorder import record

from tchu import subscribe


@subscribe("report.build")
def announce(event):
    record("announce", event)


@subscribe("report.build")
def build(event):
    record("build.start", event)
    time.sleep(float(event.get("seconds", 0)))
    record("build.done", event)
