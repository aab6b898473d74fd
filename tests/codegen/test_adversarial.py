"""Schemas that try to break the generator: names that shadow the generated code's own, text that is not safe in a
docstring, imports datamodel-code-generator aliases, keys that are Python keywords, hand-written files in the way."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CAL_BOOKED = {
    "type": "object",
    "description": 'Booked with a \\d+ id and """ quotes',
    "properties": {
        "date": {"type": "string", "format": "date"},
        "ROUTING_KEY": {"type": "string"},
        "publish_typed": {"type": "integer"},
        "CalBooked": {"type": "string"},
        "email": {"type": "string", "format": "email"},
    },
    "required": ["date"],
    "additionalProperties": False,
    "x-tchu": {"owner": 'cal """ owner'},
}
NONE_EVENT = {"type": "object", "properties": {"n": {"type": "integer"}}}


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("adversarial")
    (root / "schemas").mkdir()
    (root / "schemas" / "cal.booked.json").write_text(json.dumps(CAL_BOOKED))
    (root / "schemas" / "none.json").write_text(json.dumps(NONE_EVENT))
    out = run(root, "-m", "codegen", "--out", "pkg")
    assert out.returncode == 0, out.stderr
    return root


def test_the_package_imports_with_warnings_as_errors_and_passes_mypy_strict(project: Path) -> None:
    imported = run(project, "-W", "error", "-c", "import pkg; print(sorted(pkg.EVENT_MODELS))")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "['cal.booked', 'none']"
    checked = subprocess.run(
        [str(Path(sys.executable).parent / "mypy"), "--strict", "--no-incremental", "pkg"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert checked.returncode == 0, checked.stdout


def test_keyword_routing_keys_get_prefixed_names(project: Path) -> None:
    assert (project / "pkg" / "event_none.py").is_file()
    assert "class EventNone(BaseModel):" in (project / "pkg" / "models.py").read_text()


def test_properties_named_like_the_generated_code_cannot_hijack_it(project: Path) -> None:
    script = textwrap.dedent(
        """
        import datetime
        import json
        import pkg
        from tchu import Catalog, PayloadValidationError, TchuClient

        class Recording:
            sent = []
            def send(self, envelope): self.sent.append(envelope)
            def call(self, envelope, timeout): return None

        transport = Recording()
        strict = TchuClient(transport=transport, catalog=Catalog(strict=True))  # knows no schema of its own
        pkg.publish_cal_booked(
            date=datetime.date(2026, 1, 1), ROUTING_KEY="admin.reset", publish_typed=1, CalBooked="x", client=strict
        )
        try:
            pkg.publish_cal_booked(date=datetime.date(2026, 1, 1), email="not-an-email", client=strict)
        except PayloadValidationError as exc:
            problems = exc.errors()
        (sent,) = transport.sent
        print(json.dumps([sent.routing_key, sent.payload, problems]))
        """
    )
    out = run(project, "-c", script)
    assert out.returncode == 0, out.stderr
    key, payload, problems = json.loads(out.stdout)
    assert key == "cal.booked"
    assert payload == {"date": "2026-01-01", "ROUTING_KEY": "admin.reset", "publish_typed": 1, "CalBooked": "x"}
    assert [path for path, _ in problems] == ["$.email"]  # the package's own schema, whatever the client's catalog


def test_descriptions_are_escaped_in_docstrings(project: Path) -> None:
    text = (project / "pkg" / "cal_booked.py").read_text()
    assert 'Booked with a \\\\d+ id and \\"\\"\\" quotes' in text


def test_hand_written_files_are_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "none.json").write_text(json.dumps(NONE_EVENT))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "models.py").write_text("# my precious models\n")
    out = run(tmp_path, "-m", "codegen", "--out", "pkg")
    assert out.returncode == 1
    assert "pkg/models.py would be overwritten but were not generated" in out.stderr
    assert (tmp_path / "pkg" / "models.py").read_text() == "# my precious models\n"
    assert sorted(p.name for p in (tmp_path / "pkg").iterdir()) == ["models.py"]  # nothing written at all


def test_check_gives_the_same_answer_from_any_directory() -> None:
    here = ROOT.name
    from_above = run(
        ROOT.parent, "-m", "codegen", "--schemas", f"{here}/schemas", "--out", f"{here}/generated", "--check"
    )
    assert from_above.returncode == 0, from_above.stdout + from_above.stderr
    absolute = run(Path("/"), "-m", "codegen", "--schemas", str(ROOT / "schemas"), "--out", str(ROOT / "generated"))
    assert absolute.returncode == 0, absolute.stderr
    assert absolute.stdout.rstrip().endswith("0 written, 0 removed")


def test_an_empty_catalog_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    out = run(tmp_path, "-m", "codegen")
    assert out.returncode == 1
    assert "no <routing_key>.json files: is this the catalog folder?" in out.stderr
    assert "Traceback" not in out.stderr


def lint(tmp_path: Path, files: dict[str, object]) -> list[tuple[str, str, str]]:
    from tchu.catalog_files import CatalogError, load_catalog  # noqa: PLC0415

    for name, doc in files.items():
        path = tmp_path / "schemas" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc))
    try:
        load_catalog(tmp_path / "schemas")
    except CatalogError as exc:
        return [(p.file, p.pointer, p.message) for p in exc.problems]
    return []


@pytest.mark.parametrize("combinator", ["oneOf", "anyOf"])
def test_a_root_combinator_is_a_lint_error(tmp_path: Path, combinator: str) -> None:
    alternatives = [{"properties": {"a": {"type": "integer"}}}, {"properties": {"b": {"type": "integer"}}}]
    problems = lint(tmp_path, {"pay.made.json": {"type": "object", combinator: alternatives}})
    assert problems == [
        (
            "schemas/pay.made.json",
            f"/{combinator}",
            f"{combinator} at the root cannot become one typed publisher: put the alternatives in a property",
        )
    ]


def test_another_draft_is_a_lint_error(tmp_path: Path) -> None:
    doc = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}
    ((file, ptr, message),) = lint(tmp_path, {"a.b.json": doc})
    assert (file, ptr) == ("schemas/a.b.json", "/$schema")
    assert "2020-12" in message


def test_an_invalid_pattern_is_reported_at_its_pointer(tmp_path: Path) -> None:
    doc = {"type": "object", "properties": {"code": {"type": "string", "pattern": "(unclosed"}}}
    ((file, ptr, message),) = lint(tmp_path, {"a.b.json": doc})
    assert (file, ptr) == ("schemas/a.b.json", "/properties/code/pattern")
    assert message.startswith("not valid JSON Schema 2020-12: ")


def test_ref_like_data_in_defaults_and_examples_is_left_alone(tmp_path: Path) -> None:
    from tchu.catalog_files import load_catalog  # noqa: PLC0415

    doc = {
        "type": "object",
        "properties": {"link": {"type": "object", "default": {"$ref": "elsewhere.json"}}},
        "examples": [{"link": {"$ref": "nowhere.json"}}],
    }
    assert lint(tmp_path, {"a.b.json": doc}) == []
    (entry,) = load_catalog(tmp_path / "schemas")
    assert entry.schema["properties"]["link"]["default"] == {"$ref": "elsewhere.json"}


def test_a_response_may_reference_its_event_files_definitions(tmp_path: Path) -> None:
    from tchu.catalog_files import load_catalog  # noqa: PLC0415

    doc = {
        "type": "object",
        "$defs": {"Total": {"type": "object", "properties": {"cents": {"type": "integer"}}, "required": ["cents"]}},
        "x-tchu": {"kind": "rpc", "response": {"$ref": "#/$defs/Total"}},
    }
    assert lint(tmp_path, {"price.quote.json": doc}) == []
    (entry,) = load_catalog(tmp_path / "schemas")
    checker = entry.event_schema()
    checker.validate_response({"cents": 5})
    with pytest.raises(ValueError, match=r"\$\.cents"):
        checker.validate_response({"cents": "five"})


def test_stub_skips_events_a_module_already_handles_under_another_name(project: Path) -> None:
    dest = project / "svc" / "subs.py"
    dest.parent.mkdir()
    dest.write_text(
        "from pkg import EventNone, on_event_none\n\n\n"
        "@on_event_none\ndef count(event: EventNone) -> None:\n    print(event)\n"
    )
    out = run(project, "-m", "codegen", "stub", "#", "--service", "svc", "--out", "pkg", "--dest", "svc/subs.py")
    assert out.returncode == 0, out.stderr
    text = dest.read_text()
    assert "handle_event_none" not in text  # handled by count already
    assert "def handle_cal_booked(event: CalBooked) -> None:" in text


def test_an_unknown_format_is_a_lint_error(tmp_path: Path) -> None:
    doc = {"type": "object", "properties": {"at": {"type": "string", "format": "datetime"}}}
    ((file, ptr, message),) = lint(tmp_path, {"a.b.json": doc})
    assert (file, ptr) == ("schemas/a.b.json", "/properties/at/format")
    assert message.startswith("unknown format 'datetime' would not be checked; use one of ['date', 'date-time'")


def test_an_unknown_format_in_a_shared_definition_names_that_file_once(tmp_path: Path) -> None:
    shared = {"type": "object", "properties": {"at": {"type": "string", "format": "timestamp"}}}
    ref = {"type": "object", "properties": {"when": {"$ref": "_defs/stamp.json"}}}
    problems = lint(tmp_path, {"_defs/stamp.json": shared, "a.b.json": ref, "a.c.json": ref})
    assert [(file, ptr) for file, ptr, _ in problems] == [("schemas/_defs/stamp.json", "/properties/at/format")]
    assert problems[0][2].startswith("unknown format 'timestamp' would not be checked")


def test_files_the_catalog_would_ignore_are_reported(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        {"a.b.json": {"type": "object"}, "user/created.json": {"type": "object"}, "c.d.yaml": {"type": "object"}},
    )
    assert [(file, message.split(":")[0]) for file, _, message in problems] == [
        ("schemas/c.d.yaml", "not read"),
        ("schemas/user/created.json", "not read"),
    ]


def test_two_different_definitions_with_one_title_are_an_error_not_a_renumbering(tmp_path: Path) -> None:
    money = {"title": "Money", "type": "object", "properties": {"amount": {"type": "number"}}}
    other = {"title": "Money", "type": "object", "properties": {"cents": {"type": "integer"}}}
    (tmp_path / "schemas" / "_defs").mkdir(parents=True)
    (tmp_path / "schemas" / "_defs" / "money.json").write_text(json.dumps(money))
    (tmp_path / "schemas" / "_defs" / "cents.json").write_text(json.dumps(other))
    for key, ref in (("a.paid", "money.json"), ("b.paid", "cents.json")):
        doc = {"type": "object", "properties": {"total": {"$ref": f"_defs/{ref}"}}}
        (tmp_path / "schemas" / f"{key}.json").write_text(json.dumps(doc))
    out = run(tmp_path, "-m", "codegen", "--out", "pkg")
    assert out.returncode == 1
    assert "would both generate the class 'Money'" in out.stderr
    assert not (tmp_path / "pkg").exists()
