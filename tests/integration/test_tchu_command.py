"""The ``tchu`` command against the real RabbitMQ, run as a subprocess in each test's own virtual host.

What a listener or a service queue should receive is asked of RabbitMQ itself: a reference queue bound with the
same pattern, or the queue's bindings as the management API reports them.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import kombu
import pytest
from amqp.exceptions import NotFound
from helpers import declare, get_messages, publish_raw, publisher_app, queue_depth

from tchu import TchuClient
from tchu._management import vhost_of
from tchu.catalog import Catalog
from tchu.catalog_files import load_catalog

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = ROOT / "tests" / "support"
TCHU = Path(sys.executable).with_name("tchu")  # the console script installed with the package
UNREACHABLE = "amqp://guest:guest@127.0.0.1:9//"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
EVENT_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3}  (\S+)  (.*)$")
VALID_USER = {"user_id": 1, "email": "ada@example.com", "name": "Ada"}


def cli_env(broker_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"CELERY_BROKER_URL", "FORCE_COLOR", "COLUMNS"}}
    env.update(TCHU_BROKER_URL=broker_url, NO_COLOR="1", PYTHONPATH=os.pathsep.join([str(SUPPORT), str(ROOT)]))
    env.update(extra)
    return env


def tchu(broker_url: str, *args: str, cwd: Path = ROOT, stdin: str | None = None, **env: str):
    return subprocess.run(
        [str(TCHU), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=cwd,
        input=stdin,
        env=cli_env(broker_url, **env),
    )


def assert_one_error_line(out, *fragments: str) -> None:
    assert out.returncode == 1, (out.stdout, out.stderr)
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: "), out.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def sensitive_catalog(folder: Path) -> Path:
    """A catalog whose user.created marks email sensitive and whose user.deleted needs an integer user_id."""
    folder.mkdir()
    created = {
        "type": "object",
        "properties": {"user_id": {"type": "integer"}, "email": {"type": "string", "x-tchu-sensitive": True}},
        "required": ["user_id"],
        "x-tchu": {"owner": "users", "version": 2, "deprecated": True, "description": "An account was opened."},
    }
    deleted = {"type": "object", "properties": {"user_id": {"type": "integer"}}, "required": ["user_id"]}
    (folder / "user.created.json").write_text(json.dumps(created))
    (folder / "user.deleted.json").write_text(json.dumps(deleted))
    return folder


class Running:
    """``tchu`` started in the background; its stdout and stderr lines collected as they come."""

    def __init__(self, broker_url: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(TCHU), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=cli_env(broker_url),
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._changed: queue.Queue[None] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))
            self._changed.put(None)

    def wait_until(self, check, what: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.proc.poll() is not None:
                for reader in self._readers:
                    reader.join(timeout=5)
                if check():
                    return
                pytest.fail(f"tchu exited ({self.proc.returncode}) before {what}: {self.stdout} {self.stderr}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {timeout}s: {self.stdout} {self.stderr}")
            with contextlib.suppress(queue.Empty):
                self._changed.get(timeout=0.1)

    def wait_listening(self) -> str:
        """The name of the listening queue, once it is bound."""
        self.wait_until(lambda: any(line.startswith("listening on") for line in self.stderr), "listening line")
        found = re.search(r"queue (tchu\.listen\.\w+)", self.stderr[0])
        assert found, self.stderr
        return found.group(1)

    def events(self) -> list[tuple[str, str]]:
        """``(routing key, verdict)`` of every event printed so far."""
        return [(m.group(1), m.group(2)) for line in self.stdout if (m := EVENT_LINE.match(line))]

    def finish(self, timeout: float = 15) -> int:
        code = self.proc.wait(timeout=timeout)
        self._close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self) -> None:
        for reader in self._readers:  # the pipes end with the process: the readers take the last lines
            reader.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def running():
    started: list[Running] = []

    def start(broker_url: str, *args: str) -> Running:
        proc = Running(broker_url, *args)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


@pytest.fixture
def raw_client(broker):
    """A client that validates nothing, so invalid events can reach a listener."""
    app = publisher_app(broker)
    client = TchuClient(app, catalog=Catalog(), unroutable="ignore")
    try:
        yield client
    finally:
        client.close()
        app.backend.client.connection_pool.disconnect()
        app.close()


def routed_keys(broker, reference_queue: str) -> list[str]:
    """The routing keys RabbitMQ delivered to ``reference_queue``, in order."""
    return [m.delivery_info["routing_key"] for m in get_messages(broker, reference_queue)]


# --- tchu listen --------------------------------------------------------------------------------------------


def test_listen_prints_what_rabbitmq_routes_to_the_pattern_validated_and_masked(broker, raw_client, running, tmp_path):
    schemas = sensitive_catalog(tmp_path / "schemas")
    declare(broker, "reference", "user.*")  # RabbitMQ's own answer to what "user.*" receives
    listener = running(broker.amqp_url, "listen", "user.*", "--schemas", str(schemas), "--count", "2")
    listener.wait_listening()
    created = raw_client.publish("user.created", {"user_id": 1, "email": "secret@example.com"})
    raw_client.publish("order.created", {"order_id": 7})
    raw_client.publish("user.profile.updated", {"user_id": 1})
    deleted = raw_client.publish("user.deleted", {"user_id": "one"})
    assert listener.finish() == 0, listener.stderr
    expected = routed_keys(broker, "reference")
    assert expected == ["user.created", "user.deleted"]
    assert [key for key, _ in listener.events()] == expected
    verdicts = dict(listener.events())
    assert verdicts["user.created"] == f"valid: {schemas.name}/user.created.json"
    assert verdicts["user.deleted"].startswith("invalid: $.user_id: ")
    text = "\n".join(listener.stdout)
    assert "secret@example.com" not in text
    assert '"email": "***"' in text
    assert f"id={created}  tchu_published_at=" in text  # the event id travels as the task id
    assert f"id={deleted}  tchu_published_at=" in text
    assert listener.stdout[-1].startswith("received 2 event(s) matching 'user.*' in ")
    assert listener.stdout[-1].endswith("(1 valid, 1 invalid)")


def test_listen_stops_cleanly_on_ctrl_c_with_a_summary_and_its_queue_gone(broker, raw_client, running, tmp_path):
    schemas = sensitive_catalog(tmp_path / "schemas")
    listener = running(broker.amqp_url, "listen", "#", "--schemas", str(schemas))
    queue_name = listener.wait_listening()
    raw_client.publish("order.created", {"order_id": 7})
    publish_raw(broker, "legacy.thing", b"\x80\x04K\x01.", "application/x-python-serialize", {"id": "t-1"})
    raw_client.publish("user.created", VALID_USER)
    listener.wait_until(lambda: len(listener.events()) == 3, "three events")
    listener.proc.send_signal(signal.SIGINT)
    assert listener.finish() == 0, listener.stderr
    assert [key for key, _ in listener.events()] == ["order.created", "legacy.thing", "user.created"]
    assert dict(listener.events())["legacy.thing"] == (
        "undecodable: 5 bytes of application/x-python-serialize, not a JSON task message"
    )
    summary = listener.stdout[-1]
    counts = r"\(1 valid, 1 not in the catalog, 1 undecodable\)"
    assert re.fullmatch(rf"received 3 event\(s\) matching '#' in \d+\.\ds {counts}", summary)
    assert "Traceback" not in "\n".join(listener.stderr)
    assert listener.stderr[1:] == []
    with kombu.Connection(broker.amqp_url) as conn, pytest.raises(NotFound):
        conn.default_channel.queue_declare(queue_name, passive=True)


def test_listen_with_a_count_not_reached_in_time_is_exit_1(broker):
    out = tchu(broker.amqp_url, "listen", "user.*", "--count", "1", "--timeout", "0.5")
    assert out.returncode == 1
    assert out.stdout.splitlines()[-1].startswith("received 0 event(s) matching 'user.*'")
    assert out.stderr.splitlines()[-1] == "error: timed out after 0.5s with 0 of 1 event(s)"


def test_listen_with_a_bad_pattern_is_one_line_and_exit_1(broker):
    out = tchu(broker.amqp_url, "listen", "user*")
    assert_one_error_line(out, "user*", "'user.*'")


# --- tchu publish -------------------------------------------------------------------------------------------


def test_publish_validates_confirms_and_prints_the_event_id(broker):
    declare(broker, "watch", "user.*")
    out = tchu(broker.amqp_url, "publish", "user.created", json.dumps(VALID_USER))
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    event_id = out.stdout.strip()
    assert UUID.match(event_id)
    [message] = get_messages(broker, "watch")
    assert message.headers["id"] == event_id
    assert message.headers["tchu_schema_version"] == 1  # from the repository's catalog
    args, kwargs, _ = json.loads(message.body)
    assert json.loads(args[0]) == VALID_USER
    assert kwargs == {"routing_key": "user.created"}


def test_publish_reads_the_payload_from_a_file_or_stdin(broker, tmp_path):
    declare(broker, "watch", "user.deleted")
    payload = tmp_path / "deleted.json"
    payload.write_text('{"user_id": 42}')
    from_file = tchu(broker.amqp_url, "publish", "user.deleted", f"@{payload}")
    from_stdin = tchu(broker.amqp_url, "publish", "user.deleted", "@-", stdin='{"user_id": 43}')
    assert (from_file.returncode, from_stdin.returncode) == (0, 0), (from_file.stderr, from_stdin.stderr)
    messages = get_messages(broker, "watch")
    assert [m.headers["id"] for m in messages] == [from_file.stdout.strip(), from_stdin.stdout.strip()]
    assert [json.loads(json.loads(m.body)[0][0]) for m in messages] == [{"user_id": 42}, {"user_id": 43}]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("user.created", '{"user_id": 1,'), ("the payload is not valid JSON",)),
        (("user.created", "[1]"), ("the payload must be a JSON object",)),
        (("user.created", '{"user_id": 0, "email": "ada@example.com", "name": "Ada"}'), ("$.user_id", "minimum")),
        (("user.created", '{"user_id": 1, "email": "ada@example.com"}'), ("$.name: is required",)),
        (("user.craeted", "{}"), ("'user.craeted' is not in the catalog", "--allow-unknown")),
        (("user.created", "@missing.json"), ("cannot read the payload file missing.json",)),
    ],
)
def test_publish_mistakes_are_one_line_exit_1_and_nothing_sent(broker, args, fragments):
    declare(broker, "watch", "#")
    out = tchu(broker.amqp_url, "publish", *args)
    assert_one_error_line(out, *fragments)
    assert out.stdout == ""
    assert queue_depth(broker, "watch") == 0


def test_publish_of_a_key_outside_the_catalog_with_allow_unknown_warns_when_nothing_is_bound(broker):
    out = tchu(broker.amqp_url, "publish", "audit.note", '{"text": "hi"}', "--allow-unknown")
    assert out.returncode == 0, out.stderr
    assert UUID.match(out.stdout.strip())
    assert out.stderr.startswith("warning: no queue is bound to 'audit.note'")


# --- tchu catalog -------------------------------------------------------------------------------------------


def test_catalog_lists_every_event_of_the_repository_with_its_metadata():
    out = tchu(UNREACHABLE, "catalog")  # no broker needed
    assert out.returncode == 0, out.stderr
    entries = load_catalog(ROOT / "schemas")
    rows = [line for line in out.stdout.splitlines() if line.startswith("│")]
    assert len(rows) == len(entries)
    for row, entry in zip(rows, entries, strict=True):
        cells = [cell.strip() for cell in row.strip("│").split("│")]
        assert cells == [entry.routing_key, entry.kind, entry.owner, str(entry.version), "no", entry.description]
    assert out.stdout.splitlines()[-1] == f"{len(entries)} event(s) in schemas"
    command = [sys.executable, "-m", "tchu", "catalog"]
    module = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT, env=cli_env(UNREACHABLE))
    assert module.stdout == out.stdout


def test_catalog_shows_deprecation_and_defaults_and_refuses_a_broken_folder(tmp_path):
    schemas = sensitive_catalog(tmp_path / "schemas")
    out = tchu(UNREACHABLE, "catalog", "--schemas", str(schemas))
    rows = [[c.strip() for c in line.strip("│").split("│")] for line in out.stdout.splitlines() if "│" in line]
    assert rows == [
        ["user.created", "event", "users", "2", "yes", "An account was opened."],
        ["user.deleted", "event", "-", "-", "no", "-"],
    ]
    (schemas / "user.deleted.json").write_text("{not json")
    broken = tchu(UNREACHABLE, "catalog", "--schemas", str(schemas))
    assert broken.returncode == 1
    assert broken.stderr.startswith("error: the catalog has 1 problem(s):")
    assert "schemas/user.deleted.json" in broken.stderr
    assert "Traceback" not in broken.stderr


# --- tchu dlq show ------------------------------------------------------------------------------------------


def test_dlq_show_prints_the_whole_entry_masked_and_leaves_the_queue(broker, start_worker, client, tmp_path):
    from helpers import wait_seen  # noqa: PLC0415

    start_worker("svc", extra_env={"TCHU_TEST_SERVICE": "notifications"})
    first = client.publish("user.created", {"user_id": 1, "email": "secret@example.com", "fail": True})
    second = client.publish("user.created", {"user_id": 2, "email": "other@example.com", "fail": True})
    wait_seen(broker, 4, settle=0)
    deadline = time.monotonic() + 10
    while queue_depth(broker, "notifications_queue.dlq") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    schemas = sensitive_catalog(tmp_path / "schemas")
    out = tchu(broker.amqp_url, "dlq", "show", "notifications_queue", first, "--schemas", str(schemas))
    assert out.returncode == 0, out.stderr
    fields = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in out.stdout.splitlines()[:6])
    assert fields["event id"] == first
    assert fields["routing key"] == "user.created"
    assert fields["attempts"] == "1"
    assert fields["handlers"] == "handlers_notifications.send_welcome_email_again"
    assert fields["reason"].startswith("handler: 1 handler(s) failed for 'user.created'")
    assert "RuntimeError: mail server down" in fields["reason"]
    assert fields["dead-lettered at"] != "-"
    assert f'  id: "{first}"' in out.stdout
    assert "  tchu_dlq_attempts: 1" in out.stdout
    payload = json.loads(out.stdout[out.stdout.index("payload\n") + len("payload\n") :])
    assert payload == {"user_id": 1, "email": "***", "fail": True}
    assert second not in out.stdout
    assert queue_depth(broker, "notifications_queue.dlq") == 2
    missing = tchu(broker.amqp_url, "dlq", "show", "notifications_queue", "no-such-id")
    assert_one_error_line(missing, "no event no-such-id among the 2 entries of notifications_queue.dlq")


def test_dlq_of_an_unknown_queue_is_one_line_and_exit_1(broker):
    for action in (("show", "nobody_queue", "x"), ("list", "nobody_queue")):
        out = tchu(broker.amqp_url, "dlq", *action)
        assert_one_error_line(out, "nobody_queue.dlq", "NOT_FOUND")


# --- tchu bindings ------------------------------------------------------------------------------------------


def broker_bindings(broker, queue_name: str) -> set[str]:
    api = broker.management
    return {b.pattern for b in api.queue_bindings(vhost_of(broker.amqp_url), queue_name) if b.exchange == "tchu_events"}


def test_bindings_reports_missing_and_stale_and_apply_fixes_them(broker):
    declare(broker, "users_queue", "order.#", "user.*")  # left by removed handlers; user.deleted never bound
    out = tchu(broker.amqp_url, "bindings", "users", "--handlers", "handlers_users")
    assert out.returncode == 1, out.stderr
    rows = [[c.strip() for c in line.strip("│").split("│")] for line in out.stdout.splitlines() if "│" in line]
    assert rows == [["user.deleted", "missing"], ["order.#", "stale"], ["user.*", "stale"]]
    assert (
        out.stdout.splitlines()[-1]
        == "users_queue differs from its handlers: 1 missing, 2 stale; run with --apply to fix"
    )
    assert broker_bindings(broker, "users_queue") == {"order.#", "user.*"}  # reading changes nothing

    fixed = tchu(broker.amqp_url, "bindings", "users", "--handlers", "handlers_users", "--apply")
    assert fixed.returncode == 0, fixed.stderr
    assert broker_bindings(broker, "users_queue") == {"user.deleted"}
    with kombu.Connection(broker.amqp_url) as conn:  # and RabbitMQ routes accordingly
        producer = kombu.Producer(conn.default_channel, exchange=kombu.Exchange("tchu_events", type="topic"))
        for key in ("user.deleted", "user.created", "order.created"):
            producer.publish(b"{}", routing_key=key, declare=[], content_type="application/json")
    assert routed_keys(broker, "users_queue") == ["user.deleted"]

    again = tchu(broker.amqp_url, "bindings", "users", "--handlers", "handlers_users,handlers_analytics")
    assert again.returncode == 1
    assert "users_queue differs from its handlers: 2 missing, 0 stale" in again.stdout
    same = tchu(broker.amqp_url, "bindings", "users", "--handlers", "handlers_users")
    assert (same.returncode, same.stdout.splitlines()[-1]) == (0, "users_queue matches its handlers")


def test_bindings_mistakes_are_one_line_and_exit_1(broker):
    assert_one_error_line(
        tchu(broker.amqp_url, "bindings", "nobody", "--handlers", "handlers_users"),
        "queue 'nobody_queue' does not exist",
    )
    assert_one_error_line(
        tchu(broker.amqp_url, "bindings", "users", "--handlers", "no_such_handlers"),
        "cannot import handler module 'no_such_handlers'",
    )


# --- tchu check ---------------------------------------------------------------------------------------------


def copy_catalog(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    shutil.copytree(ROOT / "generated", tmp_path / "generated", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def check_results(stdout: str) -> dict[str, str]:
    rows = [[c.strip() for c in line.strip("│").split("│")] for line in stdout.splitlines() if line.startswith("│")]
    return dict(rows)


def test_check_passes_on_the_repository():
    out = tchu(UNREACHABLE, "check", "--against", "schemas")
    assert out.returncode == 0, out.stdout + out.stderr
    assert check_results(out.stdout) == {"lint": "passed", "codegen --check": "passed", "compat": "passed"}
    assert out.stdout.splitlines()[-1] == "check passed"


def test_check_fails_on_a_catalog_that_does_not_lint(tmp_path):
    work = copy_catalog(tmp_path)
    created = work / "schemas" / "user.created.json"
    created.write_text(created.read_text().replace('"format": "email"', '"format": "emale"'))
    out = tchu(UNREACHABLE, "check", cwd=work)
    assert out.returncode == 1
    assert check_results(out.stdout) == {"lint": "failed", "codegen --check": "skipped"}
    assert out.stdout.splitlines()[-1] == "check failed: lint"
    assert "schemas/user.created.json#/properties/email/format: unknown format 'emale'" in out.stderr


def test_check_fails_on_a_stale_package_and_a_breaking_change(tmp_path):
    work = copy_catalog(tmp_path)
    deleted = work / "schemas" / "user.deleted.json"
    schema = json.loads(deleted.read_text())
    schema["properties"]["reason"] = {"type": "string"}
    schema["required"] = [*schema["required"], "reason"]
    if "examples" in schema:
        schema["examples"] = [{**example, "reason": "asked"} for example in schema["examples"]]
    deleted.write_text(json.dumps(schema, indent=2))
    out = tchu(UNREACHABLE, "check", "--against", str(ROOT / "schemas"), cwd=work)
    assert out.returncode == 1
    assert check_results(out.stdout) == {"lint": "passed", "codegen --check": "failed", "compat": "failed"}
    assert out.stdout.splitlines()[-1] == "check failed: codegen --check, compat"


def test_check_without_the_codegen_extra_names_the_install_command(tmp_path):
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "datamodel_code_generator.py").write_text("raise ImportError('No module named datamodel_code_generator')")
    out = tchu(UNREACHABLE, "check", PYTHONPATH=os.pathsep.join([str(shadow), str(ROOT)]))
    assert_one_error_line(out, 'pip install "tchu[codegen]"')


# --- an unreachable broker ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("listen", "#"),
        ("publish", "user.deleted", '{"user_id": 1}'),
        ("dlq", "show", "users_queue", "x"),
        ("bindings", "users", "--handlers", "handlers_users"),
    ],
    ids=["listen", "publish", "dlq-show", "bindings"],
)
def test_an_unreachable_broker_is_one_line_and_exit_1(args):
    out = tchu(UNREACHABLE, *args)
    assert_one_error_line(out, "cannot reach the broker")
    assert "guest:guest" not in out.stderr


def test_broker_option_wins_over_the_environment(broker):
    declare(broker, "watch", "user.deleted")
    out = tchu(UNREACHABLE, "publish", "user.deleted", '{"user_id": 5}', "--broker", broker.amqp_url)
    assert out.returncode == 0, out.stderr
    assert [m.headers["id"] for m in get_messages(broker, "watch")] == [out.stdout.strip()]
