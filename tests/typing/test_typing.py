"""Type-level tests: mypy --strict over the committed ``generated`` package, as a service using it sees it.

``good_usage.py`` must type-check cleanly. Each snippet below is written to its own module and must fail exactly
on the lines marked ``# E: <text>``, with an error containing that text, and nowhere else (so a snippet cannot
pass because of an unrelated mistake). All files go through one mypy run (cwd: the repository, so ``generated``
and the project's mypy settings apply; cache in a temporary folder); each test reads its file's errors.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD = Path(__file__).resolve().parent / "good_usage.py"
MYPY = Path(sys.executable).parent / "mypy"

PRELUDE = """\
from __future__ import annotations

from generated import *
from generated.models import Money, UserUpdatedChanges
from tchu import TchuClient

"""

# Snippets that mypy must reject; the marked line says where and why.
BAD = {
    "null_for_a_field_with_a_default": """
        # E: Argument "plan" to "publish_user_created" has incompatible type "None"
        publish_user_created(user_id=1, email="a@example.com", name="A", plan=None)
        """,
    "wrong_argument_type": """
        # E: Argument "user_id" to "publish_user_created" has incompatible type "str"; expected "int"
        publish_user_created(user_id="1", email="a@example.com", name="A")
    """,
    "missing_required_argument": """
        # E: Missing named argument "name" for "publish_user_created"
        publish_user_created(user_id=1, email="a@example.com")
    """,
    "unknown_argument": """
        # E: Unexpected keyword argument "nickname"
        publish_user_created(user_id=1, email="a@example.com", name="A", nickname="x")
    """,
    "positional_arguments": """
        # E: Too many positional arguments for "publish_user_created"
        publish_user_created(1, "a@example.com", "A")
    """,
    "value_outside_the_enum": """
        # E: Argument "plan" to "publish_user_created" has incompatible type
        publish_user_created(user_id=1, email="a@example.com", name="A", plan="gold")
    """,
    "client_of_the_wrong_type": """
        # E: Argument "client" to "publish_user_created" has incompatible type "str"
        publish_user_created(user_id=1, email="a@example.com", name="A", client="rabbit")
    """,
    "event_id_is_a_str": """
        # E: Incompatible types in assignment (expression has type "str", variable has type "int")
        event_id: int = publish_user_created(user_id=1, email="a@example.com", name="A")
    """,
    "handler_for_another_event": """
        # E: Value of type variable "UserCreatedHandler" of "on_user_created" cannot be "Callable[[OrderCreated], None]"
        @on_user_created
        def handle(event: OrderCreated) -> None: ...
    """,
    "handler_reads_a_field_the_event_lacks": """
        @on_user_created
        def handle(event: UserCreated) -> object:
            # E: "UserCreated" has no attribute "order_id"
            return event.order_id
    """,
    "pattern_handler_accepts_only_one_of_the_events": """
        # E: cannot be "Callable[[UserCreated], None]"
        @on("user.*")
        def handle(event: UserCreated) -> None: ...
    """,
    "pattern_not_in_the_catalog": """
        # E: Value of type variable "_OnAny" of function cannot be
        @on("nope.*")
        def handle(event: UserCreated) -> None: ...
    """,
    "pattern_that_is_not_a_literal": """
        pattern: str = "user.*"

        # E: Value of type variable "_OnAny" of function cannot be
        @on(pattern)
        def handle(event: UserCreated | UserUpdated | UserDeleted) -> None: ...
    """,
    "rpc_item_of_the_wrong_type": """
        # E: List item 0 has incompatible type "dict[str, int]"; expected "OrderItem"
        call_order_calculate_total(items=[{"id": 1, "quantity": 1}])
    """,
    "rpc_reply_is_a_model": """
        # E: Incompatible types in assignment (expression has type "UserValidateResponse"
        reply: dict[str, object] = call_user_validate(email="a@example.com")
    """,
    "responder_returns_another_model": """
        # E: Value of type variable "OrderCalculateTotalResponder" of "responds_order_calculate_total" cannot be
        @responds_order_calculate_total
        def price(request: OrderCalculateTotal) -> UserValidateResponse:
            raise NotImplementedError
    """,
    "responder_takes_another_request": """
        # E: Value of type variable "UserValidateResponder" of "responds_user_validate" cannot be
        @responds_user_validate
        def validate(request: UserCreated) -> UserValidateResponse:
            raise NotImplementedError
    """,
    "rpc_has_no_publisher": """
        # E: Module "generated" has no attribute "publish_user_validate"
        from generated import publish_user_validate
    """,
    "event_has_no_caller": """
        # E: Module "generated" has no attribute "call_user_created"
        from generated import call_user_created
    """,
}

# Snippets that must type-check, beside good_usage.py.
GOOD_SNIPPETS = {
    "any_pattern_with_a_handler_for_every_event": """
        pattern: str = "*.*"

        @on(pattern)
        def handle(event: OrderCreated | OrderPaymentCompleted | UserCreated | UserDeleted | UserUpdated) -> None: ...
        """,
    "optional_constrained_fields_may_be_omitted": """
        OrderCalculateTotal(items=[OrderItem(id=1, quantity=1)])
        UserUpdatedChanges(email="a@example.com")
        """,
}

LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+): error: (?P<message>.*?)(?:  \[[a-z-]+\])?$")


def snippet_text(code: str) -> str:
    return PRELUDE + textwrap.dedent(code).strip("\n") + "\n"


def marks(text: str) -> dict[int, list[str]]:
    """Line number -> the texts expected in its errors, from ``# E: <text>`` comment lines just above it."""
    found: dict[int, list[str]] = defaultdict(list)
    pending: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("# E: "):
            pending.append(line.split("# E: ", 1)[1])
        elif pending:
            found[number] += pending
            pending = []
    assert not pending, "a '# E:' comment must stand above a line of code"
    return dict(found)


@pytest.fixture(scope="module")
def errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[int, str]]]:
    """One mypy run over every file: file stem -> ``(line, message)`` of each error."""
    folder = tmp_path_factory.mktemp("typing")
    snippets = {**BAD, **GOOD_SNIPPETS}
    files = [GOOD]
    for name, code in snippets.items():
        path = folder / f"{name}.py"
        path.write_text(snippet_text(code))
        files.append(path)
    cmd = [str(MYPY), "--strict", "--follow-imports=silent", "--show-absolute-path", "--no-error-summary"]
    cmd += ["--no-pretty", "--cache-dir", str(folder / ".mypy_cache"), *map(str, files)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode in {0, 1}, proc.stdout + proc.stderr  # 2: mypy itself failed
    found: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for line in proc.stdout.splitlines():
        match = LINE.match(line)
        if match:
            found[Path(match["path"]).stem].append((int(match["line"]), match["message"]))
        elif ": note: " not in line:
            pytest.fail(f"unexpected mypy output: {line}")
    return found


def check_marked(name: str, code: str, found: list[tuple[int, str]]) -> None:
    expected = marks(snippet_text(code))
    assert expected, f"snippet {name} marks no line"
    unexpected = [(line, message) for line, message in found if line not in expected]
    assert unexpected == [], f"errors on unmarked lines of {name}"
    for line, texts in expected.items():
        messages = [message for at, message in found if at == line]
        for text in texts:
            assert any(text in message for message in messages), f"line {line}: expected {text!r}, got {messages}"


def test_good_usage_type_checks(errors: dict[str, list[tuple[int, str]]]) -> None:
    assert errors["good_usage"] == []


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_usage_is_a_type_error(errors: dict[str, list[tuple[int, str]]], name: str) -> None:
    check_marked(name, BAD[name], errors[name])


@pytest.mark.parametrize("name", sorted(GOOD_SNIPPETS))
def test_other_good_usage_type_checks(errors: dict[str, list[tuple[int, str]]], name: str) -> None:
    assert errors[name] == []


def test_marks_are_read_from_the_snippet() -> None:
    text = snippet_text("x = 1\n# E: Incompatible types\n# E: another\ny: str = x\nz = 2\n")
    assert marks(text) == {len(PRELUDE.splitlines()) + 4: ["Incompatible types", "another"]}
