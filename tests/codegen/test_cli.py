"""``python -m codegen`` as a user runs it: a subprocess in a project folder (``tmp_path``), default paths.

The project folder gets a copy of the example catalog (``schemas/``); ``generated/`` is written next to it.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from codegen.plan import plan
from tchu.catalog_files import load_catalog

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ["order.created", "order.payment.completed", "user.created", "user.deleted", "user.updated"]


@dataclass
class Run:
    code: int
    out: str
    err: str


def codegen(cwd: Path, *args: str) -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "codegen", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    return tmp_path


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project generated once per module; tests get copies (generating takes half a second)."""
    project = tmp_path_factory.mktemp("pristine")
    shutil.copytree(ROOT / "schemas", project / "schemas")
    run = codegen(project)
    assert run.code == 0, run.err
    return project


@pytest.fixture
def generated(pristine: Path, tmp_path: Path) -> Path:
    """``tmp_path`` as a project whose ``generated/`` is what ``python -m codegen`` wrote."""
    shutil.copytree(pristine, tmp_path, dirs_exist_ok=True)
    return tmp_path / "generated"


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir()) if p.is_file()}


def no_traceback(run: Run) -> None:
    assert "Traceback" not in run.err + run.out


# --- generate -----------------------------------------------------------------------------------------------


def test_generate_with_default_paths(project: Path) -> None:
    run = codegen(project)
    assert run.code == 0, run.err
    assert run.err == ""
    expected = plan(load_catalog(project / "schemas", label="schemas"), "schemas")
    out = project / "generated"
    assert {p.name for p in out.iterdir()} == set(expected)
    assert all((out / name).read_text(encoding="utf-8") == text for name, text in expected.items())
    assert run.out.splitlines()[-1] == "generated: 7 events, 10 written, 0 removed"
    assert sorted(run.out.splitlines()[:-1]) == sorted(f"wrote generated/{name}" for name in expected)


def test_generated_matches_the_committed_package(generated: Path) -> None:
    # the committed package was generated from the same catalog with the same default paths
    committed = {p.name: p.read_bytes() for p in sorted((ROOT / "generated").glob("*.py"))}
    assert {p.name: p.read_bytes() for p in sorted(generated.glob("*.py"))} == committed


def test_second_run_writes_nothing(generated: Path) -> None:
    before = snapshot(generated)
    run = codegen(generated.parent)
    assert run.code == 0, run.err
    assert run.out == "generated: 7 events, 0 written, 0 removed\n"
    assert snapshot(generated) == before  # bytes and mtimes


def test_changed_schema_rewrites_only_what_depends_on_it(generated: Path) -> None:
    before = snapshot(generated)
    schema = generated.parent / "schemas" / "user.deleted.json"
    schema.write_text(schema.read_text().replace('"fraud"', '"fraud", "duplicate"'))
    run = codegen(generated.parent)
    assert run.code == 0, run.err
    after = snapshot(generated)
    changed = {name for name in before if after[name] != before[name]}
    assert changed == {"__init__.py", "_catalog.py", "models.py", "user_deleted.py"}
    assert "generated: 7 events, 4 written, 0 removed" in run.out


def test_removing_a_schema_deletes_its_module(generated: Path) -> None:
    (generated.parent / "schemas" / "user.deleted.json").unlink()
    run = codegen(generated.parent)
    assert run.code == 0, run.err
    assert "removed generated/user_deleted.py" in run.out.splitlines()
    assert "generated: 6 events, 3 written, 1 removed" in run.out
    assert not (generated / "user_deleted.py").exists()
    assert "user_deleted" not in (generated / "__init__.py").read_text()
    assert codegen(generated.parent, "--check").code == 0


def test_extra_file_without_the_header_is_kept_and_reported(generated: Path) -> None:
    (generated / "helpers.py").write_text('"""Hand-written."""\n')
    (generated / "README.txt").write_text("not python\n")
    run = codegen(generated.parent)
    assert run.code == 0, run.err
    assert "kept generated/helpers.py (not generated; remove it yourself if it is stale)" in run.out.splitlines()
    assert (generated / "helpers.py").read_text() == '"""Hand-written."""\n'
    assert (generated / "README.txt").exists()


def test_orphan_with_the_header_is_removed(generated: Path) -> None:
    orphan = generated / "user_renamed.py"
    orphan.write_text("# Generated by python -m codegen from schemas/user.renamed.json (sha256:0). Do not edit.\n")
    run = codegen(generated.parent)
    assert run.code == 0, run.err
    assert "removed generated/user_renamed.py" in run.out.splitlines()
    assert not orphan.exists()


def test_explicit_paths(project: Path) -> None:
    (project / "schemas").rename(project / "catalog")
    run = codegen(project, "--schemas", "catalog", "--out", "pkg/events")
    assert run.code == 0, run.err
    header = (project / "pkg" / "events" / "user_created.py").read_text().splitlines()[0]
    assert header.startswith("# Generated by python -m codegen from catalog/user.created.json (sha256:")
    assert codegen(project, "--schemas", "./catalog/", "--out", "pkg/events", "--check").code == 0


# --- --check ------------------------------------------------------------------------------------------------


def test_check_when_fresh(generated: Path) -> None:
    run = codegen(generated.parent, "--check")
    assert (run.code, run.out, run.err) == (0, "generated is up to date (7 events)\n", "")


def test_check_names_each_stale_missing_and_extra_file(generated: Path) -> None:
    (generated / "models.py").write_text((generated / "models.py").read_text() + "# edited\n")
    (generated / "user_created.py").unlink()
    (generated / "helpers.py").write_text("# Generated by python -m codegen from schemas/ (sha256:0). Do not edit.\n")
    (generated / "notes.py").write_text("x = 1\n")  # hand-written: not the generator's business
    before = snapshot(generated)
    run = codegen(generated.parent, "--check")
    assert run.code == 1
    assert run.out.splitlines() == [
        "extra: generated/helpers.py",
        "stale: generated/models.py",
        "missing: generated/user_created.py",
    ]
    assert "generated is out of date with schemas: run python -m codegen" in run.err
    assert snapshot(generated) == before  # --check writes nothing


def test_check_when_never_generated(project: Path) -> None:
    run = codegen(project, "--check")
    assert run.code == 1
    assert len(run.out.splitlines()) == 10
    assert all(line.startswith("missing: generated/") for line in run.out.splitlines())
    assert not (project / "generated").exists()


def test_check_after_a_schema_changed(generated: Path) -> None:
    schema = generated.parent / "schemas" / "user.validate.json"
    schema.write_text(schema.read_text().replace('"version": 1', '"version": 2'))
    run = codegen(generated.parent, "--check")
    assert run.code == 1
    assert set(run.out.splitlines()) == {
        "stale: generated/__init__.py",
        "stale: generated/_catalog.py",
        "stale: generated/models.py",
        "stale: generated/user_validate.py",
    }


def test_committed_generated_package_is_fresh() -> None:
    run = codegen(ROOT, "--check")
    assert run.code == 0, f"{run.out}{run.err}"


# --- errors -------------------------------------------------------------------------------------------------


def test_catalog_errors_are_one_line_each_on_stderr(project: Path) -> None:
    schemas = project / "schemas"
    (schemas / "User.Created.json").write_text('{"type": "object"}')
    bad = (schemas / "order.created.json").read_text().replace('"version": 1', '"version": 0')
    (schemas / "order.created.json").write_text(bad)
    run = codegen(project)
    assert run.code == 1
    no_traceback(run)
    assert run.out == ""
    assert run.err.splitlines() == [
        "error: the catalog has 2 problem(s):",
        "  schemas/User.Created.json#: file name must be the routing key: lowercase words of [a-z0-9_] joined by '.'",
        "  schemas/order.created.json#/x-tchu/version: version must be an integer >= 1, got 0",
    ]
    assert not (project / "generated").exists()


def test_catalog_errors_leave_an_existing_package_alone(generated: Path) -> None:
    before = snapshot(generated)
    (generated.parent / "schemas" / "user.created.json").write_text("{")
    run = codegen(generated.parent)
    assert run.code == 1
    assert "schemas/user.created.json#: not valid JSON" in run.err
    assert snapshot(generated) == before


def test_missing_catalog_folder(tmp_path: Path) -> None:
    run = codegen(tmp_path)
    assert run.code == 1
    no_traceback(run)
    assert run.err == "error: the catalog has 1 problem(s):\n  schemas#: catalog folder does not exist\n"


@pytest.mark.parametrize("out", ["my-events", "2events", "events.v2"])
def test_out_whose_name_is_not_an_identifier(project: Path, out: str) -> None:
    run = codegen(project, "--out", out)
    assert run.code == 1
    no_traceback(run)
    assert f"--out {out}: the folder's name is the package name, so it must be a Python identifier" in run.out + run.err
    assert not (project / out).exists()


def test_out_error_goes_to_stderr(project: Path) -> None:
    run = codegen(project, "--out", "my-events")
    assert run.out == ""
    assert run.err.startswith("error: --out my-events:")


def test_unknown_command_is_a_usage_error(project: Path) -> None:
    run = codegen(project, "generat")
    assert run.code == 2
    assert "invalid choice: 'generat'" in run.err


# --- lint ---------------------------------------------------------------------------------------------------


def test_lint(project: Path) -> None:
    run = codegen(project, "lint")
    assert (run.code, run.out, run.err) == (0, "schemas: 7 events, no problems\n", "")
    assert not (project / "generated").exists()


def test_lint_reports_problems(project: Path) -> None:
    (project / "schemas" / "user.created.json").write_text('{"type": "array"}')
    run = codegen(project, "lint")
    assert run.code == 1
    no_traceback(run)
    assert run.err.splitlines()[1:] == [
        '  schemas/user.created.json#/type: an event payload is a JSON object: set "type": "object"'
    ]


# --- stub ---------------------------------------------------------------------------------------------------


def handlers(module: Path) -> dict[str, tuple[str, str]]:
    """Function name -> (decorator, annotation of its argument)."""
    tree = ast.parse(module.read_text())
    return {
        node.name: (ast.unparse(node.decorator_list[0]), ast.unparse(node.args.args[0].annotation or ast.Constant()))
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
    }


def test_stub_creates_typed_handlers_for_matching_events(generated: Path) -> None:
    project = generated.parent
    run = codegen(project, "stub", "user.*", "--service", "mail")
    assert run.code == 0, run.err
    module = project / "mail" / "subscribers.py"
    assert handlers(module) == {
        "handle_user_created": ("on_user_created", "UserCreated"),
        "handle_user_deleted": ("on_user_deleted", "UserDeleted"),
        "handle_user_updated": ("on_user_updated", "UserUpdated"),
    }
    text = module.read_text()
    assert "from generated import UserCreated, UserDeleted, UserUpdated, on_user_created, " in text
    assert run.out.splitlines() == [
        "mail/subscribers.py: added handle_user_created for user.created",
        "mail/subscribers.py: added handle_user_deleted for user.deleted",
        "mail/subscribers.py: added handle_user_updated for user.updated",
    ]


def test_stub_skips_rpc_topics(generated: Path) -> None:
    run = codegen(generated.parent, "stub", "#", "--service", "all")
    assert run.code == 0, run.err
    names = handlers(generated.parent / "all" / "subscribers.py")
    assert sorted(names) == [f"handle_{key.replace('.', '_')}" for key in EVENTS]


def test_stub_module_imports_and_subscribes(generated: Path) -> None:
    project = generated.parent
    assert codegen(project, "stub", "order.#", "--service", "billing").code == 0
    assert billing_subscriptions(project) == "['order.created', 'order.payment.completed']"


def billing_subscriptions(project: Path) -> str:
    """The patterns ``billing/subscribers.py`` subscribes to once imported, printed by a fresh interpreter."""
    script = "import billing.subscribers\nfrom tchu import default_router\nprint(default_router.patterns())\n"
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=project, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_stub_imports_a_nested_package_by_its_dotted_path(project: Path) -> None:
    (project / "shop").mkdir()
    (project / "shop" / "__init__.py").write_text("")
    assert codegen(project, "--out", "shop/events").code == 0
    run = codegen(project, "stub", "order.#", "--service", "billing", "--out", "shop/events")
    assert run.code == 0, run.err
    assert "from shop.events import " in (project / "billing" / "subscribers.py").read_text()
    assert billing_subscriptions(project) == "['order.created', 'order.payment.completed']"


def test_stub_package_option_sets_the_import_path(generated: Path) -> None:
    project = generated.parent
    run = codegen(project, "stub", "user.deleted", "--service", "mail", "--package", "acme.catalog")
    assert run.code == 0, run.err
    assert "from acme.catalog import UserDeleted, on_user_deleted" in (project / "mail" / "subscribers.py").read_text()


def test_stub_again_changes_nothing(generated: Path) -> None:
    project = generated.parent
    assert codegen(project, "stub", "user.*", "--service", "mail").code == 0
    module = project / "mail" / "subscribers.py"
    before = (module.read_bytes(), module.stat().st_mtime_ns)
    run = codegen(project, "stub", "user.*", "--service", "mail")
    assert run.code == 0, run.err
    assert run.out == "mail/subscribers.py: every event matching 'user.*' already has a handler\n"
    assert (module.read_bytes(), module.stat().st_mtime_ns) == before


def test_stub_keeps_existing_code_and_adds_only_missing_handlers(generated: Path) -> None:
    project = generated.parent
    module = project / "mail" / "subscribers.py"
    module.parent.mkdir()
    existing = (
        '"""The mail service."""\n'
        "\n"
        "from __future__ import annotations\n"
        "\n"
        "from generated import UserCreated, on_user_created\n"
        "\n"
        "SENDER = 'noreply@example.com'\n"
        "\n"
        "\n"
        "@on_user_created\n"
        "def handle_user_created(event: UserCreated) -> None:\n"
        "    print('welcome', event.email)  # my own code\n"
    )
    module.write_text(existing)
    run = codegen(project, "stub", "user.*", "--service", "mail")
    assert run.code == 0, run.err
    text = module.read_text()
    old_lines = existing.splitlines()
    new_lines = text.splitlines()
    it = iter(new_lines)
    assert all(line in it for line in old_lines), "every existing line is kept, in order"
    assert "from generated import UserDeleted, UserUpdated, on_user_deleted, on_user_updated" in new_lines
    assert new_lines.index("from generated import UserDeleted, UserUpdated, on_user_deleted, on_user_updated") < (
        new_lines.index("SENDER = 'noreply@example.com'")
    )
    assert list(handlers(module)) == ["handle_user_created", "handle_user_deleted", "handle_user_updated"]
    assert text.count("def handle_user_created") == 1
    assert run.out.splitlines() == [
        "mail/subscribers.py: added handle_user_deleted for user.deleted",
        "mail/subscribers.py: added handle_user_updated for user.updated",
    ]


def test_stub_into_a_module_that_does_not_parse(generated: Path) -> None:
    module = generated.parent / "mail" / "subscribers.py"
    module.parent.mkdir()
    module.write_text("def broken(:\n")
    run = codegen(generated.parent, "stub", "user.*", "--service", "mail")
    assert run.code == 1
    no_traceback(run)
    assert "mail/subscribers.py is not valid Python" in run.err
    assert module.read_text() == "def broken(:\n"


@pytest.mark.parametrize("pattern", ["nope.*", "order.calculate_total", "user.validate"])
def test_stub_pattern_matching_no_event(generated: Path, pattern: str) -> None:
    run = codegen(generated.parent, "stub", pattern, "--service", "mail")
    assert run.code == 1
    no_traceback(run)
    assert f"error: pattern {pattern!r} matches no event of the catalog" in run.err
    assert "user.created" in run.err  # lists what there is
    assert not (generated.parent / "mail").exists()


def test_stub_needs_pattern_and_service(generated: Path) -> None:
    for args in (["stub", "--service", "mail"], ["stub", "user.*"]):
        run = codegen(generated.parent, *args)
        assert run.code == 1
        assert "stub needs a pattern and --service" in run.err


def test_stub_invalid_pattern_is_a_clear_error(generated: Path) -> None:
    run = codegen(generated.parent, "stub", "user*", "--service", "mail")
    assert run.code == 1
    no_traceback(run)
    assert run.err.startswith("error: pattern 'user*': wildcards match whole words only")
    assert "'user.*'" in run.err
    assert not (generated.parent / "mail").exists()
