"""A handler that takes its time, for killing a worker in the middle of it."""

import time

from recorder import record

from tchu import subscribe


@subscribe("job.run")
def run_job(event):
    record("run_job.start", event)
    time.sleep(float(event.get("seconds", 0)))
    record("run_job.done", event)
