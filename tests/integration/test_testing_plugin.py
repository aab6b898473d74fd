"""The tchu_events fixture: one user test file passes in memory and on RabbitMQ, and memory mirrors a real worker.

The user test files run in a pytest subprocess of their own, loading tchu's plugin through its ``pytest11`` entry
point as a project that installed tchu would; the RabbitMQ runs use the test's own vhost.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from importlib import import_module
from pathlib import Path

import pytest
from helpers import declare, publisher_app, queue_depth

from tchu._celery.transport import CeleryTransport
from tchu.envelope import Envelope
from tchu.testing import BROKER_ENV, recording

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = ROOT / "tests" / "support"
README = ROOT / "README.md"


def readme_example() -> str:
    """The test file shown in the README's "Testing your services" section."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Testing your services") :]
    section = section[: section.index("\n## ", 1)]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README's testing section has no python example"
    return match.group(1)


def run_user_tests(
    tmp_path: Path, name: str, source: str, *options: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run ``source`` as a project's test file; return the run and each test's outcome."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "test_user.py").write_text(source, encoding="utf-8")
    report = folder / "report.xml"
    run_env = {k: v for k, v in os.environ.items() if k not in {BROKER_ENV, "PYTEST_ADDOPTS", "CELERY_BROKER_URL"}}
    run_env["PYTHONPATH"] = str(ROOT)  # the repository's generated package, as a project's own
    run_env.update(env or {})
    cmd = [sys.executable, "-m", "pytest", "test_user.py", "-p", "no:cacheprovider", f"--junitxml={report}", *options]
    result = subprocess.run(cmd, cwd=folder, env=run_env, capture_output=True, text=True, timeout=120, check=False)
    assert report.exists(), result.stdout + result.stderr
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314 -- pytest's own report
        kinds = [child.tag for child in case if child.tag in {"failure", "error", "skipped"}]
        outcomes[case.get("name", "")] = kinds[0] if kinds else "passed"
    return result, outcomes


def test_the_readme_example_passes_in_memory_and_on_rabbitmq(broker, tmp_path: Path) -> None:
    declare(broker, "probe_queue", "user.#")  # sees what reaches RabbitMQ
    source = readme_example()
    # in memory: nothing reaches RabbitMQ, even with the process's default Celery app pointed at it
    memory, outcomes = run_user_tests(tmp_path, "memory", source, env={"CELERY_BROKER_URL": broker.amqp_url})
    assert memory.returncode == 0, memory.stdout + memory.stderr
    assert outcomes == {
        "test_sign_up_announces_the_new_user": "passed",
        "test_an_invalid_event_is_never_sent": "passed",
        "test_the_welcome_email_goes_out": "passed",
        "test_a_failing_handler_is_dead_lettered": "passed",
    }
    assert queue_depth(broker, "probe_queue") == 0

    real, outcomes = run_user_tests(tmp_path, "rabbitmq", source, f"--tchu-broker={broker.amqp_url}", "-rs")
    assert real.returncode == 0, real.stdout + real.stderr
    assert outcomes == {
        "test_sign_up_announces_the_new_user": "passed",
        "test_an_invalid_event_is_never_sent": "passed",
        "test_the_welcome_email_goes_out": "skipped",
        "test_a_failing_handler_is_dead_lettered": "skipped",
    }
    assert "on a real broker the notifications worker runs this handler" in real.stdout
    assert queue_depth(broker, "probe_queue") == 1  # the one valid user.created went through RabbitMQ


MODES_PROBE = textwrap.dedent(
    """
    from tchu import TchuClient


    def test_mode(tchu_events):
        TchuClient(unroutable="ignore").publish("probe.sent", {"n": 1})
        print("MODE", tchu_events.mode, tchu_events.published_keys())
        assert tchu_events.published("probe.sent", n=2)
    """
)


@pytest.mark.parametrize("switch", ["option", "environment"])
def test_a_failing_assertion_fails_in_both_modes(broker, tmp_path: Path, switch: str) -> None:
    memory, outcomes = run_user_tests(tmp_path, "memory", MODES_PROBE, "-s")
    assert (memory.returncode, outcomes) == (1, {"test_mode": "failure"})
    assert "MODE memory ['probe.sent']" in memory.stdout
    assert "<no event matches probe.sent n=2; published: ['probe.sent']>" in memory.stdout

    if switch == "option":
        real, outcomes = run_user_tests(tmp_path, "rabbitmq", MODES_PROBE, "-s", f"--tchu-broker={broker.amqp_url}")
    else:
        real, outcomes = run_user_tests(tmp_path, "rabbitmq", MODES_PROBE, "-s", env={BROKER_ENV: broker.amqp_url})
    assert (real.returncode, outcomes) == (1, {"test_mode": "failure"}), real.stdout + real.stderr
    assert "MODE broker ['probe.sent']" in real.stdout
    assert "<no event matches probe.sent n=2; published: ['probe.sent']>" in real.stdout


PARITY_HANDLERS = textwrap.dedent(
    """
    from tchu import Router
    from tchu.catalog import Catalog, EventSchema
    from tchu.retry import RetryPolicy

    router = Router()
    catalog = Catalog()
    catalog.register(
        EventSchema("parity.checked", {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}})
    )


    @router.subscribe("parity.ok")
    @router.subscribe("parity.checked")
    def ok(data):
        pass


    @router.subscribe("parity.fail")
    def fail(data):
        raise ValueError("no mail server")


    @router.subscribe("parity.retry", retry=RetryPolicy(max_retries=1, backoff=0.05))
    def flaky(data):
        raise ConnectionError("still down")
    """
)

PARITY_WORKER = textwrap.dedent(
    """
    from parity_handlers import catalog, router
    from tchu import default_catalog, default_router

    default_router.include_router(router)
    for key in catalog.keys():
        default_catalog.register(catalog.get(key))
    """
)


def test_memory_dead_letters_what_a_real_worker_dead_letters(
    broker, start_worker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "parity_handlers.py").write_text(PARITY_HANDLERS, encoding="utf-8")
    (tmp_path / "parity_worker.py").write_text(PARITY_WORKER, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "parity_handlers", raising=False)
    handlers = import_module("parity_handlers")
    envelopes = [
        Envelope.new("parity.ok", {"n": 1}),
        Envelope.new("parity.fail", {"n": 2}),
        Envelope.new("parity.retry", {"n": 3}),
        Envelope.new("parity.checked", {"n": "three"}),  # valid for no publisher that knows the schema
        Envelope.new("orphan.event", {"n": 4}),  # bound, but no handler
    ]

    with recording() as memory:
        memory.remove_service("local")
        service = memory.add_service("parity", router=handlers.router, catalog=handlers.catalog)
        assert service is not None
        service.bind("orphan.#")
        assert memory.broker is not None
        for envelope in envelopes:
            memory.broker.transport(unroutable="raise").send(envelope)
        in_memory = memory.dead_letters("parity")

    declare(broker, "parity_queue", "orphan.#")  # a binding an earlier deployment left
    extra_env = {
        "TCHU_TEST_SERVICE": "parity",
        "TCHU_TEST_HANDLERS": "parity_worker",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(SUPPORT), str(ROOT)]),
    }
    start_worker("svc", extra_env=extra_env)
    app = publisher_app(broker)
    transport = CeleryTransport(app, unroutable="raise")
    try:
        for envelope in envelopes:
            transport.send(envelope)
    finally:
        transport.close()
    with recording(broker.amqp_url) as real:
        deadline = time.monotonic() + 30
        on_rabbitmq = real.dead_letters("parity")
        while len(on_rabbitmq) < len(in_memory) and time.monotonic() < deadline:
            time.sleep(0.1)
            on_rabbitmq = real.dead_letters("parity")
        time.sleep(0.5)  # a delivery that should not be dead-lettered would show by now
        on_rabbitmq = real.dead_letters("parity")

    def summary(entries):
        return sorted((e.routing_key, e.event_id, e.reason, e.handlers, e.attempts, e.payload) for e in entries)

    assert [e.routing_key for e in in_memory] == ["parity.fail", "parity.retry", "parity.checked", "orphan.event"]
    assert summary(in_memory) == summary(on_rabbitmq)
    reasons = {e.routing_key: e.reason.split(":", 1)[0] for e in in_memory}
    assert reasons == {
        "parity.fail": "handler",
        "parity.retry": "handler",
        "parity.checked": "validation",
        "orphan.event": "no handler",
    }


def test_on_rabbitmq_a_serverless_client_without_a_url_publishes_to_the_switchs_broker(broker, monkeypatch):
    from tchu.serverless import connect  # noqa: PLC0415

    monkeypatch.setenv("TCHU_BROKER_URL", "amqp://guest:guest@127.0.0.1:1//")  # what it would use outside the block
    payload = {"user_id": 7, "email": "ada@example.com", "name": "Ada"}
    with recording(broker.amqp_url) as real:
        with connect() as client:
            event_id = client.publish("user.created", payload)
        [found] = real.wait_for("user.created", user_id=7)
    assert found.event_id == event_id
    assert found.payload == payload
