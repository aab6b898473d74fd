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
            date="2026-01-01", ROUTING_KEY="admin.reset", publish_typed=1, CalBooked="x", client=strict
        )
        try:
            pkg.publish_cal_booked(date="2026-01-01", email="not-an-email", client=strict)
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
