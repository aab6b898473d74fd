"""The generated package as a user's project gets it: lint-clean, mypy-strict-clean, and working when imported.

The golden "rich" catalog is generated into a temporary folder as the package ``rich_events``. It is imported in
a subprocess only, because importing registers its schemas in tchu's process-wide default catalog.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from codegen.plan import plan
from tchu.catalog_files import load_catalog

BIN = Path(sys.executable).parent
RICH = Path(__file__).resolve().parent / "golden" / "rich" / "schemas"
PACKAGE = "rich_events"


def generate(schemas: Path) -> dict[str, str]:
    return plan(load_catalog(schemas, label="schemas"), "schemas")


def write_package(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def rich() -> dict[str, str]:
    return generate(RICH)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, rich: dict[str, str]) -> Path:
    """A folder holding the generated package ``rich_events`` (and nothing else)."""
    root = tmp_path_factory.mktemp("project")
    write_package(root / PACKAGE, rich)
    return root


def signature(source: str, function: str) -> dict[str, str]:
    node = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef) and n.name == function)
    return {a.arg: ast.unparse(a.annotation) if a.annotation else "" for a in node.args.kwonlyargs}


# --- lint and types -----------------------------------------------------------------------------------------


def ruff(project: Path, *select: str) -> subprocess.CompletedProcess[str]:
    args = [str(BIN / "ruff"), "check", "--isolated", "--no-cache", "--output-format", "concise", *select, PACKAGE]
    return run(args, project)


def test_ruff_with_a_common_user_config(project: Path) -> None:
    # E501 is left out: the do-not-edit header is one long line by design (see the long-lines test)
    result = ruff(project, "--select", "E,F,W,B,UP", "--ignore", "E501", "--target-version", "py311")
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_the_header_is_longer_than_120_columns(project: Path) -> None:
    result = ruff(project, "--select", "E501", "--line-length", "120")
    long_lines = [line for line in result.stdout.splitlines() if ": E501 " in line and ":1:" not in line]
    assert long_lines == []


def test_imports_are_sorted_as_isort_does(project: Path) -> None:
    result = ruff(project, "--select", "I", "--line-length", "200")
    assert result.returncode == 0, result.stdout


USAGE = """
import uuid
from typing import assert_type

from rich_events import (
    Address,
    ShopCustomerDeleted,
    ShopCustomerRegistered,
    ShopQuoteRequestResponse,
    call_shop_quote_request,
    on,
    publish_shop_customer_deleted,
)


def use(address: Address) -> None:
    reply = call_shop_quote_request(destination=address, weight_kg=1.5, timeout=10, tchu_timeout=2.0)
    assert_type(reply, ShopQuoteRequestResponse)
    assert_type(publish_shop_customer_deleted(customer_id=uuid.uuid4(), reason=None), str)

    @on("shop.customer.*")
    def handler(event: ShopCustomerDeleted | ShopCustomerRegistered) -> None: ...
"""


def test_mypy_strict(project: Path, rich: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "usage.py").write_text(USAGE)
    cmd = [str(BIN / "mypy"), "--strict", "--follow-imports=silent", "--cache-dir", str(tmp_path / ".mypy_cache")]
    result = run([*cmd, PACKAGE, str(tmp_path / "usage.py")], project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Success: no issues found in {len(rich) + 1} source files" in result.stdout


# --- importing and using the package ------------------------------------------------------------------------

SCRIPT = '''
import datetime, json, sys, uuid, warnings

warnings.filterwarnings("ignore", "'shop.quote.request' is deprecated")  # a deprecated topic; see test_shapes.py

from tchu import PayloadValidationError, TchuClient, default_catalog


class Recording:
    """A tiny real transport: keeps what is sent, answers calls with REPLY."""

    def __init__(self):
        self.sent, self.calls = [], []

    def send(self, envelope):
        self.sent.append(envelope)

    def call(self, envelope, timeout):
        self.calls.append((envelope.routing_key, envelope.payload, timeout))
        return REPLY


REPLY = {"price": 4.5, "valid_until": "2026-01-05T09:30:00Z"}
out = {"catalog_before": default_catalog.keys()}

import rich_events
from rich_events import Address, ShopCustomerRegisteredPreferences, _catalog

out["catalog"] = {k: [default_catalog.get(k).schema_id, default_catalog.get(k).kind] for k in default_catalog.keys()}
out["schemas"] = sorted(_catalog.SCHEMAS)
out["heavy_imports"] = sorted(m for m in ("celery", "kombu", "django") if m in sys.modules)

client = TchuClient(transport=Recording())
home = Address(street="1 Main St", city="Lyon", country="FR")
customer = dict(
    customer_id=uuid.UUID("2f1c2b8e-4f6a-4c55-9a4e-0d7a8b6b1f00"),
    email="ada@example.com",
    registered_at=datetime.datetime(2026, 1, 5, 9, 30, tzinfo=datetime.timezone.utc),
    class_="person",
    client="ios",
    address=home,
    preferences=ShopCustomerRegisteredPreferences(language="fr"),
    nickname=None,
    tchu_client=client,
)


def attempt(name, func, **kwargs):
    sent = len(client.transport.sent) + len(client.transport.calls)
    try:
        result = func(**kwargs)
    except PayloadValidationError as exc:
        out[name] = {"errors": exc.errors(), "routing_key": exc.routing_key, "schema_id": exc.schema_id}
    else:
        out[name] = {"result": result if isinstance(result, str) else result.model_dump(mode="json")}
    out[name]["sent"] = len(client.transport.sent) + len(client.transport.calls) - sent


attempt("valid", rich_events.publish_shop_customer_registered, **customer)
out["payload"] = client.transport.sent[-1].payload
attempt("bad_email", rich_events.publish_shop_customer_registered, **{**customer, "email": "nope"})
attempt("bad_nested", rich_events.publish_shop_customer_registered,
        **{**customer, "address": {"street": "", "city": "Lyon", "country": "FR"}})
attempt("bad_class", rich_events.publish_shop_customer_registered, **{**customer, "class_": "robot"})
attempt("deleted", rich_events.publish_shop_customer_deleted,
        customer_id=uuid.uuid4(), reason=None, client=client)
attempt("bad_reason", rich_events.publish_shop_customer_deleted,
        customer_id=uuid.uuid4(), reason="bored", client=client)
attempt("call", rich_events.call_shop_quote_request,
        destination=home, weight_kg=1.5, timeout=10, tchu_timeout=2.0, client=client)
out["call_sent"] = client.transport.calls[-1]
attempt("bad_call", rich_events.call_shop_quote_request,
        destination=home, weight_kg=0, timeout=10, client=client)
REPLY = {"price": -1, "valid_until": "2026-01-05T09:30:00Z"}
attempt("bad_reply", rich_events.call_shop_quote_request, destination=home, weight_kg=1, timeout=1, client=client)
print(json.dumps(out, default=str))
'''


@pytest.fixture(scope="module")
def used(project: Path) -> dict[str, Any]:
    result = run([sys.executable, "-c", SCRIPT], project)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # importing prints nothing
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_import_registers_every_schema(used: dict[str, Any]) -> None:
    assert used["catalog_before"] == []
    assert used["catalog"] == {
        "shop.customer.deleted": ["schemas/shop.customer.deleted.json", "event"],
        "shop.customer.registered": ["schemas/shop.customer.registered.json", "event"],
        "shop.quote.request": ["schemas/shop.quote.request.json", "rpc"],
    }
    assert used["schemas"] == sorted(used["catalog"])


def test_import_loads_no_broker_library(used: dict[str, Any]) -> None:
    assert used["heavy_imports"] == []


def test_publish_sends_wire_names(used: dict[str, Any]) -> None:
    assert used["valid"]["sent"] == 1
    payload = used["payload"]
    assert payload["class"] == "person"  # the alias, not the Python name
    assert "class_" not in payload
    assert payload["client"] == "ios"  # the event's own field, not the TchuClient
    assert payload["customer_id"] == "2f1c2b8e-4f6a-4c55-9a4e-0d7a8b6b1f00"
    assert payload["registered_at"] == "2026-01-05T09:30:00Z"
    assert payload["address"] == {"street": "1 Main St", "city": "Lyon", "country": "FR"}
    assert "nickname" not in payload  # an optional None is left out


def test_publish_with_client_keyword(used: dict[str, Any]) -> None:
    assert used["deleted"]["sent"] == 1


@pytest.mark.parametrize(
    ("attempt", "path"),
    [
        ("bad_email", "$.email"),  # found by the schema (the model types email as str)
        ("bad_reason", "$.reason"),  # found by the model first
        ("bad_nested", "$.address.street"),
    ],
)
def test_invalid_argument_raises_naming_the_field(used: dict[str, Any], attempt: str, path: str) -> None:
    outcome = used[attempt]
    assert outcome["sent"] == 0, "nothing is sent"
    assert [p for p, _ in outcome["errors"]] == [path]
    assert outcome["routing_key"].startswith("shop.customer.")


@pytest.mark.parametrize("attempt", ["bad_email", "bad_reason"])
def test_invalid_argument_error_names_the_schema_file(used: dict[str, Any], attempt: str) -> None:
    assert used[attempt]["schema_id"] == f"schemas/{used[attempt]['routing_key']}.json"


def test_invalid_aliased_argument_names_the_wire_field(used: dict[str, Any]) -> None:
    outcome = used["bad_class"]
    assert outcome["sent"] == 0
    assert [p for p, _ in outcome["errors"]] == ["$.class"]


def test_call_returns_the_validated_reply(used: dict[str, Any]) -> None:
    assert used["call"]["result"] == {
        "price": 4.5,
        "currency": "EUR",
        "valid_until": "2026-01-05T09:30:00Z",
        "carrier": None,
    }
    key, payload, timeout = used["call_sent"]
    assert (key, timeout) == ("shop.quote.request", 2.0)
    assert payload == {
        "destination": {"street": "1 Main St", "city": "Lyon", "country": "FR"},
        "weight_kg": 1.5,
        "timeout": 10,
    }


def test_invalid_call_argument_is_not_sent(used: dict[str, Any]) -> None:
    assert used["bad_call"]["sent"] == 0
    assert [p for p, _ in used["bad_call"]["errors"]] == ["$.weight_kg"]


def test_invalid_reply_raises(used: dict[str, Any]) -> None:
    assert [p for p, _ in used["bad_reply"]["errors"]] == ["$.price"]


# --- what the generated types promise -----------------------------------------------------------------------


def test_optional_field_with_a_default_is_not_nullable(rich: dict[str, str]) -> None:
    params = signature(rich["shop_customer_registered.py"], "publish_shop_customer_registered")
    assert params["tier"] == "Literal['bronze', 'silver', 'gold']"
    assert 'currency: Annotated[str, Field(pattern="^[A-Z]{3}$")] = "EUR"' in rich["models.py"]


def test_ref_to_a_scalar_definition_is_typed_as_the_scalar(rich: dict[str, str]) -> None:
    assert "RootModel" not in rich["models.py"]
    assert "    country: Annotated[str, Field(" in rich["models.py"]


def changes_annotation(tmp_path: Path, keys: list[str]) -> str:
    schema = {
        "type": "object",
        "properties": {"changes": {"type": "object", "properties": {"x": {"type": "integer"}}}},
        "required": ["changes"],
    }
    folder = tmp_path / "-".join(keys)
    folder.mkdir()
    for i, key in enumerate(keys):
        schema["properties"]["changes"]["properties"] = {f"x{i}": {"type": "integer"}}
        (folder / f"{key}.json").write_text(json.dumps(schema))
    files = generate(folder)
    return signature(files["b_updated.py"], "publish_b_updated")["changes"]


def test_nested_model_name_does_not_depend_on_other_events(tmp_path: Path) -> None:
    alone = changes_annotation(tmp_path, ["b.updated"])
    assert changes_annotation(tmp_path, ["a.updated", "b.updated"]) == alone


def test_routing_key_starting_with_a_digit_generates_valid_python(tmp_path: Path) -> None:
    (tmp_path / "2fa.enabled.json").write_text(json.dumps({"type": "object", "properties": {}}))
    for name, text in generate(tmp_path).items():
        compile(text, name, "exec")
