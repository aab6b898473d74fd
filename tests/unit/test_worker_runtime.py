"""The worker runtime: what happens to each delivery, decided without a broker.

A real Celery app is built but never started; the dead-letter publisher is replaced by a recording stand-in,
and the task request by a small object with what :class:`WorkerRuntime` reads (id, delivery info, headers).
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import logging
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import celery._state
import pytest
from amqp.exceptions import PreconditionFailed
from celery import Celery
from celery.exceptions import Ignore, Reject
from kombu.exceptions import OperationalError
from pydantic import BaseModel

from tchu._celery import worker
from tchu._celery.common import RPC_TASK_NAME
from tchu._celery.transport import CeleryTransport
from tchu._celery.worker import MAX_REASON, WorkerRuntime, create_topic_dispatcher
from tchu.catalog import Catalog, EventSchema
from tchu.context import EventInfo, current_event
from tchu.dispatch import Dispatcher
from tchu.envelope import CONTENT_ENCODING, CONTENT_TYPE, TASK_NAME
from tchu.errors import MessageDecodeError, PublishError, RemoteError
from tchu.router import Router

QUEUE = "users_queue"
DLQ = "users_queue.dlq"
KEY = "user.created"
PAYLOAD = {"user_id": 7, "email": "ada@example.com"}
PAYLOAD_JSON = json.dumps(PAYLOAD)
EMBED: dict[str, Any] = {}  # Celery's callbacks, errbacks, chain and chord, all absent
HEADERS = {
    "tchu_event_id": "evt-1",
    "tchu_correlation_id": "corr-1",
    "tchu_published_at": "2024-05-01T12:00:00.000000+00:00",
    "tchu_schema_version": 2,
}
USER_CREATED = EventSchema(
    KEY,
    {
        "type": "object",
        "required": ["user_id", "email"],
        "properties": {"user_id": {"type": "integer", "minimum": 1}, "email": {"type": "string"}},
    },
    version=2,
)
ORDER_TOTAL = EventSchema(
    "order.total",
    {"type": "object", "required": ["order_id"], "properties": {"order_id": {"type": "integer"}}},
    kind="rpc",
    response={"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}},
)


class FakeRequest:
    """What WorkerRuntime reads from a Celery task request: ``id``, ``delivery_info`` and ``get(header)``."""

    def __init__(
        self,
        task_id: str = "task-1",
        *,
        routing_key: str | None = KEY,
        redelivered: bool = False,
        headers: dict[str, Any] | None = None,
        delivery_info: dict[str, Any] | None = None,
    ) -> None:
        self.id = task_id
        self.delivery_info = (
            {"routing_key": routing_key, "redelivered": redelivered} if delivery_info is None else delivery_info
        )
        self._headers = dict(HEADERS if headers is None else headers)

    def get(self, name: str, default: Any = None) -> Any:
        return self._headers.get(name, default)


@dataclass
class Published:
    body: bytes
    exchange: Any
    routing_key: str
    headers: dict[str, Any]
    properties: dict[str, Any]
    declare: list[Any]
    expiration: float | None
    what: str
    mandatory: bool


class RecordingPublisher:
    """Stands in for CeleryTransport.publish_message: records each attempt, raises ``error`` when set."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.published: list[Published] = []
        self.error = error

    def publish_message(
        self,
        body: bytes,
        *,
        exchange: Any,
        routing_key: str,
        headers: dict[str, Any],
        properties: dict[str, Any],
        declare: Any = (),
        expiration: float | None = None,
        what: str = "",
        mandatory: bool = False,
        content_type: str = CONTENT_TYPE,
        content_encoding: str = CONTENT_ENCODING,
        persistent: bool = True,
    ) -> bool:
        del content_type, content_encoding
        assert persistent  # a dead-letter copy must survive a broker restart
        self.published.append(
            Published(
                body, exchange, routing_key, dict(headers), dict(properties), list(declare), expiration, what, mandatory
            )
        )
        if self.error is not None:
            raise self.error
        return True


@pytest.fixture(autouse=True)
def isolated_shared_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep Celery's process-wide shared-task constructors to its built-ins while a test runs.

    ``@app.task`` registers every task for every app finalized later in the process; without this, a task
    registered by one test (or another test module) would reach the apps of the next.
    """
    builtins = {cb for cb in celery._state._on_app_finalizers if cb.__module__ == "celery.app.builtins"}  # noqa: SLF001
    monkeypatch.setattr(celery._state, "_on_app_finalizers", builtins)  # noqa: SLF001


@pytest.fixture
def app() -> Celery:
    return Celery("tchu-worker-unit", broker="memory://", set_as_current=False)


@pytest.fixture
def router() -> Router:
    return Router()


@pytest.fixture
def catalog() -> Catalog:
    catalog = Catalog()
    catalog.register(USER_CREATED)
    catalog.register(ORDER_TOTAL)
    return catalog


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def runtime(app: Celery, router: Router, catalog: Catalog, publisher: RecordingPublisher) -> WorkerRuntime:
    rt = WorkerRuntime(app, Dispatcher(router, catalog), QUEUE)
    rt.transport = publisher  # type: ignore[assignment]
    return rt


@pytest.fixture
def no_pause(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """REQUEUE_PAUSE is 0 and every sleep of the worker module is recorded instead of slept."""
    sleeps: list[float] = []
    monkeypatch.setattr(worker, "REQUEUE_PAUSE", 0)
    monkeypatch.setattr(worker, "time", SimpleNamespace(sleep=sleeps.append))
    return sleeps


def deliver(
    runtime: WorkerRuntime,
    args: tuple[Any, ...] = (PAYLOAD_JSON,),
    kwargs: dict[str, Any] | None = None,
    request: FakeRequest | None = None,
) -> None:
    runtime.handle_event(request or FakeRequest(), args, {"routing_key": KEY} if kwargs is None else kwargs)


def only_dead_letter(publisher: RecordingPublisher) -> Published:
    assert len(publisher.published) == 1, publisher.published
    return publisher.published[0]


# --- the stand-ins ---------------------------------------------------------------------------------------------


def test_recording_publisher_has_the_signature_of_celery_transport_publish_message() -> None:
    # the stand-in must keep up with the real method, or these tests exercise a different contract
    ours = inspect.signature(RecordingPublisher.publish_message)
    real = inspect.signature(CeleryTransport.publish_message)
    assert [(p.name, p.kind) for p in ours.parameters.values()] == [(p.name, p.kind) for p in real.parameters.values()]


def test_the_runtime_never_declares_the_service_when_dead_lettering(app: Celery) -> None:
    rt = WorkerRuntime(app, Dispatcher(Router(), Catalog()), QUEUE)
    assert isinstance(rt.transport, CeleryTransport)
    assert rt.transport.declare_service is False


# --- handled ---------------------------------------------------------------------------------------------------


def test_a_good_event_runs_its_handlers_and_returns_normally(
    runtime: WorkerRuntime, router: Router, publisher: RecordingPublisher
) -> None:
    seen: list[tuple[dict[str, Any], EventInfo]] = []
    router.add("user.*", lambda data: seen.append((data, current_event())), handler_id="svc.on_user")
    assert runtime.handle_event(FakeRequest(redelivered=True), (PAYLOAD_JSON,), {"routing_key": KEY}) is None
    assert publisher.published == []
    [(data, info)] = seen
    assert data == PAYLOAD
    assert (info.routing_key, info.event_id, info.correlation_id) == (KEY, "evt-1", "corr-1")
    assert info.schema_version == 2
    assert info.published_at == HEADERS["tchu_published_at"]
    assert info.redelivered is True
    assert info.handler == "svc.on_user"


def test_without_tchu_headers_the_task_id_is_the_event_id_and_redelivered_is_false(
    runtime: WorkerRuntime, router: Router, publisher: RecordingPublisher
) -> None:
    seen: list[EventInfo] = []
    router.add(KEY, lambda _: seen.append(current_event()), handler_id="h")
    runtime.handle_event(FakeRequest("task-9", headers={}, delivery_info={}), (PAYLOAD_JSON,), {"routing_key": KEY})
    assert [(i.event_id, i.correlation_id, i.redelivered, i.schema_version) for i in seen] == [
        ("task-9", "task-9", False, None)
    ]
    assert publisher.published == []


def test_the_routing_key_falls_back_to_the_delivery_when_the_kwarg_is_missing(
    runtime: WorkerRuntime, router: Router, publisher: RecordingPublisher
) -> None:
    seen: list[str] = []
    router.add("user.#", lambda _: seen.append(current_event().routing_key), handler_id="h")
    runtime.handle_event(FakeRequest(routing_key="user.deleted"), (PAYLOAD_JSON,), {})
    assert seen == ["user.deleted"]
    assert publisher.published == []


def test_a_request_without_delivery_info_still_dispatches(runtime: WorkerRuntime, router: Router) -> None:
    # an eagerly applied task has no delivery info at all
    request = FakeRequest()
    request.delivery_info = None  # type: ignore[assignment]
    seen: list[bool] = []
    router.add(KEY, lambda _: seen.append(current_event().redelivered), handler_id="h")
    runtime.handle_event(request, (PAYLOAD_JSON,), {"routing_key": KEY})
    assert seen == [False]


# --- dead-lettered ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "headers", "expected"),
    [
        pytest.param(("not json",), {"routing_key": KEY}, HEADERS, "JSONDecodeError", id="not-json"),
        pytest.param(("[1, 2]",), {"routing_key": KEY}, HEADERS, "payload is JSON list, not an object", id="array"),
        pytest.param((42,), {"routing_key": KEY}, HEADERS, "payload is a int, not a JSON string", id="int-arg"),
        pytest.param((), {"routing_key": KEY}, HEADERS, "expected one task argument", id="no-args"),
        pytest.param((PAYLOAD_JSON, "{}"), {"routing_key": KEY}, HEADERS, "got 2", id="two-args"),
        pytest.param(
            (PAYLOAD_JSON,),
            {"routing_key": KEY, "priority": 9},
            HEADERS,
            "unknown task arguments ['priority']",
            id="kw",
        ),
        pytest.param((PAYLOAD_JSON,), {"routing_key": "user.*"}, HEADERS, "contains a wildcard", id="wildcard"),
        pytest.param(
            (PAYLOAD_JSON,),
            {"routing_key": KEY},
            {**HEADERS, "tchu_schema_version": "2"},
            "header tchu_schema_version must be an integer",
            id="version-str",
        ),
        pytest.param(
            (PAYLOAD_JSON,),
            {"routing_key": KEY},
            {**HEADERS, "tchu_schema_version": True},
            "header tchu_schema_version must be an integer",
            id="version-bool",
        ),
        pytest.param(
            (PAYLOAD_JSON,),
            {"routing_key": KEY},
            {**HEADERS, "tchu_event_id": ""},
            "header tchu_event_id must be a non-empty string",
            id="empty-event-id",
        ),
    ],
)
def test_an_undecodable_delivery_is_dead_lettered_once_and_ignored(
    *,
    runtime: WorkerRuntime,
    router: Router,
    publisher: RecordingPublisher,
    caplog: pytest.LogCaptureFixture,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    headers: dict[str, Any],
    expected: str,
) -> None:
    ran: list[Any] = []
    router.add("#", ran.append, handler_id="svc.all")
    with pytest.raises(Ignore):
        runtime.handle_event(FakeRequest(headers=headers), args, kwargs)
    assert ran == []
    dead = only_dead_letter(publisher)
    assert (dead.exchange, dead.routing_key) == ("", DLQ)
    reason = dead.headers["tchu_dlq_reason"]
    assert reason.startswith("decode: ")
    assert expected in reason
    assert dead.headers["tchu_dlq_handlers"] == ""
    assert json.loads(dead.body) == [list(args), kwargs, EMBED]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage().startswith(f"undecodable event in {QUEUE}, dead-lettered: ")


def test_a_payload_failing_the_catalog_is_dead_lettered_without_running_any_handler(
    runtime: WorkerRuntime, router: Router, publisher: RecordingPublisher, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[Any] = []
    router.add(KEY, ran.append, handler_id="svc.h")
    bad = json.dumps({"user_id": 0, "email": "ada@example.com"})
    with pytest.raises(Ignore):
        deliver(runtime, (bad,))
    assert ran == []
    reason = only_dead_letter(publisher).headers["tchu_dlq_reason"]
    assert reason.startswith("validation: payload for 'user.created' does not match")
    assert "$.user_id" in reason
    assert "$.email" not in reason
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage().startswith("invalid payload for user.created (event evt-1), dead-lettered")


def test_a_delivery_no_handler_matches_is_dead_lettered(
    runtime: WorkerRuntime, router: Router, publisher: RecordingPublisher
) -> None:
    ran: list[Any] = []
    router.add("order.*", ran.append, handler_id="svc.orders")
    with pytest.raises(Ignore):
        deliver(runtime)
    assert ran == []
    reason = only_dead_letter(publisher).headers["tchu_dlq_reason"]
    assert reason.startswith("no handler: no handler matches 'user.created' (event evt-1)")


def test_a_failing_handler_does_not_stop_the_other_and_only_it_is_named(
    runtime: WorkerRuntime, router: Router, publisher: RecordingPublisher, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def broken(_: dict[str, Any]) -> None:
        ran.append("broken")
        raise RuntimeError("smtp down")

    router.add(KEY, broken, handler_id="svc.broken")
    router.add("user.*", lambda _: ran.append("fine"), handler_id="svc.fine")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Ignore):
        deliver(runtime)
    assert ran == ["broken", "fine"]
    dead = only_dead_letter(publisher)
    assert dead.headers["tchu_dlq_handlers"] == "svc.broken"
    reason = dead.headers["tchu_dlq_reason"]
    assert reason.startswith("handler: 1 handler(s) failed for 'user.created' (event evt-1)")
    assert "svc.broken: RuntimeError: smtp down" in reason
    assert "svc.fine" not in reason
    # logged exactly once, by the dispatcher, with the traceback; the runtime adds nothing
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelno) for r in problems] == [("tchu.dispatch", logging.ERROR)]
    assert problems[0].getMessage() == "handler svc.broken failed for user.created (event evt-1, attempt 1)"
    assert problems[0].exc_info is not None


def test_every_failing_handler_is_named_in_registration_order(
    runtime: WorkerRuntime, router: Router, publisher: RecordingPublisher
) -> None:
    def fail(_: dict[str, Any]) -> None:
        raise ValueError("no")

    router.add(KEY, fail, handler_id="svc.a")
    router.add(KEY, lambda _: None, handler_id="svc.ok")
    router.add("#", fail, handler_id="svc.b")
    with pytest.raises(Ignore):
        deliver(runtime)
    assert only_dead_letter(publisher).headers["tchu_dlq_handlers"] == "svc.a,svc.b"


def test_the_dead_letter_keeps_the_task_message_and_the_tchu_headers(
    runtime: WorkerRuntime, publisher: RecordingPublisher
) -> None:
    before = dt.datetime.now(dt.UTC)
    with pytest.raises(Ignore):  # no handler at all
        deliver(runtime, request=FakeRequest("task-42", routing_key=KEY))
    dead = only_dead_letter(publisher)
    assert isinstance(dead.body, bytes)
    assert json.loads(dead.body) == [[PAYLOAD_JSON], {"routing_key": KEY}, EMBED]
    assert dead.exchange == ""
    assert dead.routing_key == DLQ
    headers = dead.headers
    assert {k: headers[k] for k in ("task", "id")} == {"task": TASK_NAME, "id": "task-42"}
    assert "root_id" not in headers  # Celery falls back to the task id
    assert {k: headers[k] for k in HEADERS} == HEADERS
    assert headers["tchu_dlq_queue"] == QUEUE
    assert headers["tchu_dlq_routing_key"] == KEY
    at = dt.datetime.fromisoformat(headers["tchu_dlq_at"])
    assert at.tzinfo is not None
    assert before <= at <= dt.datetime.now(dt.UTC)
    assert dead.properties == {"correlation_id": "task-42"}
    [queue] = dead.declare
    assert (queue.name, queue.routing_key, queue.durable, queue.auto_delete) == (DLQ, DLQ, True, False)
    assert queue.exchange.name == ""
    assert not queue.queue_arguments  # a classic queue unless told otherwise
    assert dead.expiration is None
    assert DLQ in dead.what


def test_a_quorum_service_declares_a_quorum_dead_letter_queue(app: Celery) -> None:
    rt = WorkerRuntime(app, Dispatcher(Router(), Catalog()), QUEUE, queue_type="quorum")
    rec = RecordingPublisher()
    rt.transport = rec  # type: ignore[assignment]
    with pytest.raises(Ignore):
        deliver(rt)
    [queue] = only_dead_letter(rec).declare
    assert queue.name == DLQ
    assert queue.queue_arguments == {"x-queue-type": "quorum"}


def test_absent_tchu_headers_are_not_invented_on_the_dead_letter(
    runtime: WorkerRuntime, publisher: RecordingPublisher
) -> None:
    with pytest.raises(Ignore):
        deliver(runtime, request=FakeRequest(headers={"tchu_event_id": "evt-5"}, delivery_info={}))
    headers = only_dead_letter(publisher).headers
    assert headers["tchu_event_id"] == "evt-5"
    assert not {"tchu_correlation_id", "tchu_published_at", "tchu_schema_version"} & set(headers)
    assert headers["tchu_dlq_routing_key"] == ""


def test_a_long_reason_is_cut_to_max_reason(
    runtime: WorkerRuntime, router: Router, publisher: RecordingPublisher
) -> None:
    def fail(_: dict[str, Any]) -> None:
        raise ValueError("x" * 10_000)

    router.add(KEY, fail, handler_id="svc.h")
    with pytest.raises(Ignore):
        deliver(runtime)
    reason = only_dead_letter(publisher).headers["tchu_dlq_reason"]
    assert len(reason) == MAX_REASON  # a header, not a document: the full failure is in the worker's log
    assert reason.startswith("handler: ")


# --- the dead-letter copy fails: requeue -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        PublishError("the broker refused dead letter to users_queue.dlq (negative confirm)"),
        PreconditionFailed("PRECONDITION_FAILED - inequivalent arg 'x-queue-type'"),
        OperationalError("connection refused"),
        ConnectionResetError(104, "reset by peer"),
    ],
    ids=["PublishError", "PreconditionFailed", "OperationalError", "OSError"],
)
def test_a_failed_dead_letter_copy_requeues_after_a_pause_and_logs_critical(
    runtime: WorkerRuntime,
    publisher: RecordingPublisher,
    no_pause: list[float],
    caplog: pytest.LogCaptureFixture,
    error: BaseException,
) -> None:
    publisher.error = error
    with pytest.raises(Reject) as info:
        deliver(runtime, request=FakeRequest("task-77"))  # no handler: dead-lettered
    assert info.value.requeue is True
    assert f"copying to {DLQ} failed" in str(info.value.reason)
    assert info.value.__cause__ is error
    assert len(publisher.published) == 1  # one attempt; the retries are the transport's business
    assert no_pause == [0]
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1
    message = critical[0].getMessage()
    assert message.startswith(f"could not copy task-77 to {DLQ}, requeued: {type(error).__name__}")


def test_an_undecodable_delivery_is_requeued_too_when_its_copy_fails(
    runtime: WorkerRuntime, publisher: RecordingPublisher, no_pause: list[float]
) -> None:
    publisher.error = PublishError("down")
    with pytest.raises(Reject) as info:
        deliver(runtime, ("not json",))
    assert info.value.requeue is True


def test_the_requeue_pause_is_requeue_pause(
    runtime: WorkerRuntime, publisher: RecordingPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(worker, "time", SimpleNamespace(sleep=sleeps.append))
    publisher.error = PublishError("down")
    with pytest.raises(Reject):
        deliver(runtime)
    assert sleeps == [worker.REQUEUE_PAUSE]
    assert worker.REQUEUE_PAUSE > 0  # no hot loop while the broker refuses the copy


# --- the queue -------------------------------------------------------------------------------------------------


def make_runtime(app: Celery, queue: str | None) -> tuple[WorkerRuntime, RecordingPublisher]:
    rt = WorkerRuntime(app, Dispatcher(Router(), Catalog()), queue)
    rec = RecordingPublisher()
    rt.transport = rec  # type: ignore[assignment]
    return rt, rec


def test_the_queue_given_wins_over_task_routes(app: Celery) -> None:
    app.conf.task_routes = {TASK_NAME: {"queue": "routed_queue"}}
    app.conf.task_default_queue = "default_queue"
    rt, rec = make_runtime(app, "given_queue")
    assert rt.queue == "given_queue"
    with pytest.raises(Ignore):
        deliver(rt)
    assert only_dead_letter(rec).routing_key == "given_queue.dlq"
    assert only_dead_letter(rec).headers["tchu_dlq_queue"] == "given_queue"


def test_without_a_given_queue_the_dispatcher_route_decides(app: Celery) -> None:
    app.conf.task_routes = {"other.task": {"queue": "other"}, TASK_NAME: {"queue": "routed_queue"}}
    app.conf.task_default_queue = "default_queue"
    rt, rec = make_runtime(app, None)
    assert rt.queue == "routed_queue"
    with pytest.raises(Ignore):
        deliver(rt)
    assert only_dead_letter(rec).routing_key == "routed_queue.dlq"


@pytest.mark.parametrize(
    "routes",
    [
        None,
        {},
        {"other.task": {"queue": "other"}},
        {TASK_NAME: {"exchange": "x"}},
        {TASK_NAME: {"queue": ""}},
        [{TASK_NAME: {"queue": "in_a_list"}}],
    ],
    ids=["none", "empty", "other-task", "no-queue", "empty-queue", "list"],
)
def test_else_the_default_queue(app: Celery, routes: Any) -> None:
    app.conf.task_routes = routes
    app.conf.task_default_queue = "default_queue"
    rt, rec = make_runtime(app, None)
    assert rt.queue == "default_queue"
    with pytest.raises(Ignore):
        deliver(rt)
    assert only_dead_letter(rec).routing_key == "default_queue.dlq"


def test_celerys_own_default_queue_when_nothing_is_configured(app: Celery) -> None:
    rt, _ = make_runtime(app, None)
    assert rt.queue == "celery"


# --- RPC -------------------------------------------------------------------------------------------------------


class Total(BaseModel):
    total: float
    ref: uuid.UUID


def call(runtime: WorkerRuntime, payload: Any, key: str = "order.total") -> Any:
    request = FakeRequest("call-1", routing_key=None, headers={"tchu_event_id": "evt-c"})
    return runtime.handle_call(request, (json.dumps(payload),), {"routing_key": key})


def test_handle_call_returns_the_responders_json_ready_reply(
    runtime: WorkerRuntime, router: Router, publisher: RecordingPublisher
) -> None:
    ref = uuid.UUID(int=5)
    seen: list[tuple[dict[str, Any], str]] = []

    def total(data: dict[str, Any]) -> Total:
        seen.append((data, current_event().event_id))
        return Total(total=data["order_id"] * 2.5, ref=ref)

    router.respond("order.total")(total)
    assert call(runtime, {"order_id": 4}) == {"total": 10.0, "ref": str(ref)}
    assert seen == [({"order_id": 4}, "evt-c")]
    assert publisher.published == []


def test_a_responder_exception_becomes_remote_error_logged_once_at_warning(
    runtime: WorkerRuntime, router: Router, publisher: RecordingPublisher, caplog: pytest.LogCaptureFixture
) -> None:
    boom = LookupError("order 4 not found")

    @router.respond("order.total")
    def total(data: dict[str, Any]) -> Any:
        raise boom

    caplog.set_level(logging.DEBUG)
    with pytest.raises(RemoteError) as info:
        call(runtime, {"order_id": 4})
    exc = info.value
    assert (exc.routing_key, exc.remote_type, exc.remote_message) == ("order.total", "LookupError", "order 4 not found")
    assert exc.__cause__ is boom
    assert RemoteError(*exc.args).remote_message == "order 4 not found"  # rebuildable by result backends
    logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelno) for r in logged] == [("tchu.dispatch", logging.WARNING)]
    assert logged[0].getMessage() == "responder for order.total raised LookupError (event evt-c): order 4 not found"
    assert publisher.published == []


def test_an_invalid_request_or_reply_or_a_missing_responder_reaches_the_caller_as_remote_error(
    runtime: WorkerRuntime, router: Router
) -> None:
    with pytest.raises(RemoteError) as info:
        call(runtime, {"order_id": 1})
    assert info.value.remote_type == "NoResponderError"

    router.respond("order.total")(lambda _: {"total": "lots"})
    with pytest.raises(RemoteError) as info:
        call(runtime, {"order_id": "x"})
    assert info.value.remote_type == "PayloadValidationError"
    assert "$.order_id" in info.value.remote_message
    with pytest.raises(RemoteError) as info:
        call(runtime, {"order_id": 1})  # the reply breaks the response schema
    assert info.value.remote_type == "PayloadValidationError"
    assert "$.total" in info.value.remote_message


def test_an_undecodable_rpc_request_raises_the_decode_error_and_dead_letters_nothing(
    runtime: WorkerRuntime, router: Router, publisher: RecordingPublisher
) -> None:
    router.respond("order.total")(lambda _: {"total": 1})
    with pytest.raises(MessageDecodeError):
        runtime.handle_call(FakeRequest(), ("[]",), {"routing_key": "order.total"})
    assert publisher.published == []


# --- create_topic_dispatcher -----------------------------------------------------------------------------------


def run_task(task: Any, request: FakeRequest, *args: Any, **kwargs: Any) -> Any:
    """Run a bound task's body with a request context as a worker would give it."""
    task.push_request(id=request.id, delivery_info=request.delivery_info, **request._headers)  # noqa: SLF001
    try:
        return task.run(*args, **kwargs)
    finally:
        task.pop_request()


def test_create_topic_dispatcher_registers_both_tasks_with_their_options(app: Celery) -> None:
    returned = create_topic_dispatcher(app, serializer=object(), router=Router(), catalog=Catalog(), queue=QUEUE)
    dispatch = app.tasks[TASK_NAME]
    assert returned.name == TASK_NAME
    assert (dispatch.acks_late, dispatch.reject_on_worker_lost, dispatch.ignore_result) == (True, True, True)
    respond = app.tasks[RPC_TASK_NAME]
    assert RemoteError in tuple(respond.throws)
    assert respond.ignore_result is False
    assert worker.runtimes[app].queue == QUEUE


def test_the_dispatcher_makes_tchus_consumer_the_workers_unless_the_app_has_its_own(app: Celery) -> None:
    create_topic_dispatcher(app, router=Router(), catalog=Catalog(), queue=QUEUE)
    assert app.conf.worker_consumer == "tchu._celery.consumer:TchuConsumer"
    custom = Celery("custom-consumer", broker="memory://", set_as_current=False)
    custom.conf.worker_consumer = "myproject.worker:Consumer"
    create_topic_dispatcher(custom, router=Router(), catalog=Catalog(), queue=QUEUE)
    assert custom.conf.worker_consumer == "myproject.worker:Consumer"


def test_the_dispatcher_task_hands_deliveries_to_the_runtime(app: Celery) -> None:
    router, seen = Router(), []
    router.add(KEY, seen.append, handler_id="svc.h")
    router.respond("order.total")(lambda data: {"total": data["order_id"] + 0.5})
    create_topic_dispatcher(app, router=router, catalog=Catalog(), queue=QUEUE)
    rec = RecordingPublisher()
    worker.runtimes[app].transport = rec  # type: ignore[assignment]
    assert run_task(app.tasks[TASK_NAME], FakeRequest(), PAYLOAD_JSON, routing_key=KEY) is None
    assert seen == [PAYLOAD]
    with pytest.raises(Ignore):
        run_task(app.tasks[TASK_NAME], FakeRequest(), "[]", routing_key=KEY)
    assert only_dead_letter(rec).routing_key == DLQ
    reply = run_task(app.tasks[RPC_TASK_NAME], FakeRequest(), json.dumps({"order_id": 2}), routing_key="order.total")
    assert reply == {"total": 2.5}


def test_a_custom_task_name_is_used_for_the_dispatcher_only(app: Celery) -> None:
    returned = create_topic_dispatcher(app, "svc.dispatch", router=Router(), catalog=Catalog())
    assert returned.name == "svc.dispatch"
    assert {"svc.dispatch", RPC_TASK_NAME} <= set(app.tasks)
    assert TASK_NAME not in app.tasks


def _register_twice(app: Celery) -> tuple[list[str], Router]:
    seen: list[str] = []
    first, second = Router(), Router()
    first.add(KEY, lambda _: seen.append("first"), handler_id="first")
    second.add(KEY, lambda _: seen.append("second"), handler_id="second")
    create_topic_dispatcher(app, router=first, catalog=Catalog(), queue="first_queue")
    app.finalize()
    create_topic_dispatcher(app, router=second, catalog=Catalog(), queue="second_queue")
    return seen, second


@pytest.mark.filterwarnings("ignore::celery.exceptions.DuplicateTaskNameWarning")
def test_calling_it_twice_for_the_same_app_uses_the_latest_runtime(app: Celery) -> None:
    seen, second = _register_twice(app)
    runtime = worker.runtimes[app]
    assert runtime.dispatcher.router is second
    assert runtime.queue == "second_queue"
    run_task(app.tasks[TASK_NAME], FakeRequest(), PAYLOAD_JSON, routing_key=KEY)
    assert seen == ["second"]


def test_calling_it_twice_for_the_same_app_warns_nothing(app: Celery) -> None:
    seen, _ = _register_twice(app)
    run_task(app.tasks[TASK_NAME], FakeRequest(), PAYLOAD_JSON, routing_key=KEY)
    assert seen == ["second"]


@pytest.mark.filterwarnings("ignore::celery.exceptions.DuplicateTaskNameWarning")
def test_two_apps_each_dispatch_with_their_own_runtime() -> None:
    seen: list[str] = []
    one, two = Router(), Router()
    one.add(KEY, lambda _: seen.append("one"), handler_id="one")
    two.add(KEY, lambda _: seen.append("two"), handler_id="two")
    app1 = Celery("tchu-worker-unit-1", broker="memory://", set_as_current=False)
    app2 = Celery("tchu-worker-unit-2", broker="memory://", set_as_current=False)
    create_topic_dispatcher(app1, router=one, catalog=Catalog(), queue="one_queue")
    app1.finalize()
    app2.finalize()  # e.g. its tasks were listed before the service was set up
    create_topic_dispatcher(app2, router=two, catalog=Catalog(), queue="two_queue")
    run_task(app2.tasks[TASK_NAME], FakeRequest(), PAYLOAD_JSON, routing_key=KEY)
    assert seen == ["two"]


def test_a_confirmed_dead_letter_is_counted_by_the_kind_of_its_reason(
    runtime: WorkerRuntime, router: Router, publisher: RecordingPublisher
) -> None:
    from prometheus_client import CollectorRegistry  # noqa: PLC0415

    from tchu import observability  # noqa: PLC0415

    registry = CollectorRegistry()
    observability.enable_prometheus(registry)
    try:
        router.add("order.*", lambda _: None, handler_id="svc.orders")
        with pytest.raises(Ignore):
            deliver(runtime)  # no handler for user.created
        publisher.error = OperationalError("the broker refused the copy")
        with pytest.raises(Reject):
            deliver(runtime)  # the copy failed: requeued, not counted
    finally:
        observability.disable_metrics()
    labels = {"routing_key": KEY, "reason": "no handler"}
    assert registry.get_sample_value("tchu_events_dead_lettered_total", labels) == 1
