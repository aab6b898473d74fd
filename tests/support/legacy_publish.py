"""Publish events with an unmodified tchu-tchu (2.2.3 or 3.x) from a Celery app set up as its README shows.

Runs only in a legacy virtualenv (no tchu), as ``<venv>/bin/python legacy_publish.py '<events JSON>'``, where
the argument is a list of ``{"routing_key": ..., "payload": {...}, "via": "client" | "producer"}``:
``client`` publishes with ``TchuClient(celery_app=app).publish`` (which returns None),
``producer`` with ``client.producer.publish`` (``CeleryProducer.publish``, which returns the message id).

Prints one JSON line: per event the value the call returned and what Celery published (task id, exchange,
routing key), taken from Celery's ``after_task_publish`` signal.

TCHU_TEST_BROKER_URL    the test's vhost
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import sys

from celery import Celery
from celery.signals import after_task_publish
from kombu import Exchange, Queue
from tchu_tchu import TchuClient

if importlib.util.find_spec("tchu") is not None:
    raise RuntimeError("tchu is importable in the tchu-tchu publisher; PYTHONPATH/cwd leak the repository")

app = Celery("legacy_publisher", broker=os.environ["TCHU_TEST_BROKER_URL"])

# The README's configuration. tchu-tchu's producer calls send_task(..., routing_key=<key>): the exchange
# comes from the queue that task_routes names, so a publisher needs this configuration too.
tchu_exchange = Exchange("tchu_events", type="topic", durable=True)
app.conf.task_queues = (
    Queue(
        "legacy_publisher_queue",
        exchange=tchu_exchange,
        routing_key="legacy_publisher.#",  # its own subscriptions; none of the test's events match
        durable=True,
        auto_delete=False,
    ),
)
app.conf.task_routes = {
    "tchu_tchu.dispatch_event": {"queue": "legacy_publisher_queue"},
}

sent: list[dict[str, object]] = []


@after_task_publish.connect
def _sent(sender=None, headers=None, exchange=None, routing_key=None, **_):
    sent.append({"task": sender, "task_id": (headers or {}).get("id"), "exchange": exchange, "rk": routing_key})


def main(events: list[dict[str, object]]) -> list[dict[str, object]]:
    client = TchuClient(celery_app=app)
    out = []
    for event in events:
        before = len(sent)
        if event["via"] == "producer":
            returned = client.producer.publish(routing_key=event["routing_key"], body=event["payload"])
        else:
            returned = client.publish(event["routing_key"], event["payload"])
        (published,) = sent[before:]
        out.append({"routing_key": event["routing_key"], "returned": returned, **published})
    return out


if __name__ == "__main__":
    results = main(json.loads(sys.argv[1]))
    app.close()
    print(json.dumps({"tchu_tchu": importlib.metadata.version("tchu-tchu"), "published": results}))
