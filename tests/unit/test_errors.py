"""The error tree: one root, leaves that are also the builtin they mean, structured data errors."""

from __future__ import annotations

import builtins
import inspect
import pickle
import re

import pytest

import tchu
from tchu import errors
from tchu.errors import (
    BatchPublishError,
    FieldProblem,
    HandlerError,
    HandlerFailure,
    InvalidPatternError,
    InvalidRoutingKeyError,
    MessageDecodeError,
    NoHandlerError,
    NoResponderError,
    PayloadError,
    PayloadValidationError,
    PublishError,
    RemoteError,
    RPCError,
    RPCTimeoutError,
    SetupError,
    TchuError,
    UnroutableError,
)

# What the module docstring draws, written out by hand: (class, parent in the tree, builtin it also is).
EXPECTED_TREE = [
    (InvalidRoutingKeyError, TchuError, ValueError),
    (InvalidPatternError, TchuError, ValueError),
    (PayloadError, TchuError, ValueError),
    (PayloadValidationError, PayloadError, None),
    (MessageDecodeError, TchuError, ValueError),
    (SetupError, TchuError, ValueError),
    (PublishError, TchuError, ConnectionError),
    (BatchPublishError, PublishError, None),
    (UnroutableError, PublishError, None),
    (HandlerError, TchuError, None),
    (NoHandlerError, TchuError, LookupError),
    (RPCError, TchuError, None),
    (NoResponderError, RPCError, LookupError),
    (RemoteError, RPCError, None),
    (RPCTimeoutError, RPCError, TimeoutError),
]

_TREE_LINE = re.compile(r"^(?P<lead>[ │]*)(?:[├└]── )?(?P<name>[A-Z]\w*Error)(?: \((?P<builtin>\w+)\))?")


def docstring_tree() -> dict[str, tuple[str | None, str | None]]:
    """``{class name: (parent name, builtin name)}`` parsed from the drawing in the errors docstring."""
    tree: dict[str, tuple[str | None, str | None]] = {}
    by_column: dict[int, str] = {}
    for line in (errors.__doc__ or "").splitlines():
        match = _TREE_LINE.match(line)
        if match is None or not line.strip():
            continue
        column = match.start("name")
        name = match["name"]
        tree[name] = (by_column.get(column - 4), match["builtin"])
        by_column[column] = name
    return tree


def test_docstring_tree_parses_to_the_expected_shape() -> None:
    tree = docstring_tree()
    assert tree["TchuError"] == (None, None)
    expected = {
        cls.__name__: (parent.__name__, builtin.__name__ if builtin else None) for cls, parent, builtin in EXPECTED_TREE
    }
    assert {name: tree[name] for name in tree if name != "TchuError"} == expected


@pytest.mark.parametrize("name", sorted(docstring_tree()))
def test_every_class_in_the_docstring_tree_holds(name: str) -> None:
    parent, builtin = docstring_tree()[name]
    cls = getattr(errors, name)
    assert issubclass(cls, TchuError)
    assert issubclass(cls, Exception)
    if parent is not None:
        assert issubclass(cls, getattr(errors, parent))
    if builtin is not None:
        assert issubclass(cls, getattr(builtins, builtin))


@pytest.mark.parametrize(("cls", "parent", "builtin"), EXPECTED_TREE, ids=lambda c: getattr(c, "__name__", ""))
def test_leaf_is_tchu_error_and_its_builtin(cls: type, parent: type, builtin: type | None) -> None:
    assert issubclass(cls, TchuError)
    assert issubclass(cls, parent)
    if builtin is not None:
        assert issubclass(cls, builtin)


def test_builtins_catch_tchu_errors_as_a_reader_expects() -> None:
    with pytest.raises(TimeoutError):
        raise RPCTimeoutError("no reply")
    with pytest.raises(ValueError, match="bad"):
        raise PayloadValidationError("user.created", "s", [FieldProblem("$.email", "bad")])
    with pytest.raises(LookupError):
        raise NoResponderError("nobody")
    with pytest.raises(ConnectionError):
        raise PublishError("broker gone")
    with pytest.raises(LookupError):
        raise NoHandlerError("a.b", "e1")


def test_every_error_class_is_in_the_docstring_tree() -> None:
    defined = {
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj) and issubclass(obj, TchuError) and obj.__module__ == errors.__name__
    }
    assert defined == set(docstring_tree())


def test_no_class_reuses_a_builtin_name() -> None:
    classes = {name for name, obj in vars(errors).items() if inspect.isclass(obj)}
    classes |= {name for name in tchu.__all__ if inspect.isclass(getattr(tchu, name))}
    assert len(classes) > 15
    assert sorted(classes & set(dir(builtins))) == []


def test_timeout_error_is_not_named_like_the_builtin() -> None:
    # tchu-tchu 2.x shadowed the builtin with its own TimeoutError; ours is a subclass under another name.
    assert not hasattr(errors, "TimeoutError")
    assert not hasattr(tchu, "TimeoutError")


def test_payload_validation_error_is_one_line_per_problem() -> None:
    problems = [FieldProblem("$.email", "is required"), FieldProblem("$.items[0].quantity", "-1 < 1")]
    exc = PayloadValidationError("order.created", "https://x/order.created.json", problems)
    lines = str(exc).splitlines()
    assert len(lines) == 1 + len(problems)
    assert "'order.created'" in lines[0]
    assert "https://x/order.created.json" in lines[0]
    assert lines[1].strip() == "$.email: is required"
    assert lines[2].strip() == "$.items[0].quantity: -1 < 1"
    assert exc.errors() == [("$.email", "is required"), ("$.items[0].quantity", "-1 < 1")]
    assert exc.routing_key == "order.created"
    assert exc.schema_id == "https://x/order.created.json"
    assert exc.problems == tuple(problems)


def test_payload_validation_error_keeps_its_own_copy_of_problems() -> None:
    problems = [FieldProblem("$.a", "bad")]
    exc = PayloadValidationError("a.b", "s", problems)
    problems.append(FieldProblem("$.b", "worse"))
    assert exc.errors() == [("$.a", "bad")]


def _round_trips(exc: RemoteError) -> list[BaseException]:
    rebuilt = type(exc)(*exc.args)  # what Celery's result backends do with the stored args
    return [rebuilt, pickle.loads(pickle.dumps(exc))]  # noqa: S301 -- our own bytes


def test_remote_error_survives_celery_reconstruction_and_pickle() -> None:
    exc = RemoteError("order.calculate_total", "KeyError", "'items'")
    assert str(exc) == "responder for 'order.calculate_total' raised KeyError: 'items'"
    for rebuilt in _round_trips(exc):
        assert type(rebuilt) is RemoteError
        assert rebuilt.routing_key == "order.calculate_total"
        assert rebuilt.remote_type == "KeyError"
        assert rebuilt.remote_message == "'items'"
        assert str(rebuilt) == str(exc)


def test_remote_error_survives_celerys_own_exception_serialization() -> None:
    from celery import Celery  # noqa: PLC0415 -- only this test needs a Celery app

    app = Celery("tchu-unit", set_as_current=False, result_serializer="json")
    backend = app.backend  # the disabled backend still has Celery's exception (de)serialization
    exc = RemoteError("order.calculate_total", "ValueError", "bad total")
    rebuilt = backend.exception_to_python(backend.prepare_exception(exc, "json"))
    assert isinstance(rebuilt, RemoteError)
    assert (rebuilt.remote_type, rebuilt.remote_message) == ("ValueError", "bad total")
    assert str(rebuilt) == str(exc)


def test_handler_error_names_each_failing_handler() -> None:
    failures = [
        HandlerFailure("svc.handlers.send_email", "SMTPError", "connection refused"),
        HandlerFailure("svc.handlers.track", "KeyError", "'user_id'"),
    ]
    exc = HandlerError("user.created", "ev-1", failures)
    message = str(exc)
    assert message.startswith("2 handler(s) failed for 'user.created' (event ev-1)")
    assert "svc.handlers.send_email: SMTPError: connection refused" in message
    assert "svc.handlers.track: KeyError: 'user_id'" in message
    assert exc.failures == tuple(failures)
    assert (exc.routing_key, exc.event_id) == ("user.created", "ev-1")


def test_no_handler_error_says_the_fix() -> None:
    exc = NoHandlerError("user.deleted", "ev-9")
    assert "'user.deleted'" in str(exc)
    assert "ev-9" in str(exc)
    assert "remove the binding or add a handler" in str(exc)


def test_message_decode_error_keeps_the_raw_body() -> None:
    exc = MessageDecodeError("payload is JSON list, not an object", b"[1]")
    assert exc.raw == b"[1]"
    assert exc.reason == str(exc) == "payload is JSON list, not an object"
    assert MessageDecodeError("no body").raw is None
