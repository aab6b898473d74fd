"""``import tchu`` is quiet: no output, no logging configuration, no Django, even when Django is installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent(
    """
    import json, logging, sys

    def snapshot():
        loggers = {
            name: {"level": lg.level, "handlers": len(lg.handlers), "propagate": lg.propagate}
            for name, lg in logging.Logger.manager.loggerDict.items()
            if isinstance(lg, logging.Logger)
        }
        return {
            "root_level": logging.root.level,
            "root_handlers": len(logging.root.handlers),
            "disable": logging.root.manager.disable,
            "loggers": loggers,
        }

    # a configuration the import must leave alone: a root level that is not the default, and loggers
    # (ours and our dependencies') that exist before tchu is imported
    logging.root.setLevel(logging.INFO)
    logging.getLogger("app").setLevel(logging.DEBUG)
    for name in ("tchu", "tchu.dispatch", "celery", "kombu"):
        logging.getLogger(name)
    before = snapshot()
    import tchu
    after = snapshot()
    state = {
        "before": before,
        "after": after,
        "modules": sorted(
            m for m in sys.modules if m.split(".")[0] in {"django", "rest_framework", "fake_settings"}
        ),
    }
    with open(sys.argv[1], "w") as fh:
        json.dump(state, fh)
    """
)


def fake_django(site: Path) -> None:
    """Silent stand-ins for Django and DRF, laid out as far as libraries probe them (DRF is not installed)."""
    (site / "django" / "utils").mkdir(parents=True)
    (site / "django" / "__init__.py").write_text("VERSION = (5, 0, 0, 'final', 0)\n")
    (site / "django" / "utils" / "__init__.py").write_text("")
    (site / "django" / "utils" / "functional.py").write_text("class Promise:\n    pass\n")
    (site / "rest_framework").mkdir()
    (site / "rest_framework" / "__init__.py").write_text("VERSION = '3.15.0'\n")
    (site / "fake_settings.py").write_text("SECRET_KEY = 'x'\n")


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict]:
    tmp = tmp_path_factory.mktemp("import-probe")
    site = tmp / "site"
    site.mkdir()
    fake_django(site)
    out = tmp / "state.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CELERY", "TCHU"))}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    env["DJANGO_SETTINGS_MODULE"] = "fake_settings"  # as in a Django project's worker
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(out)],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result, json.loads(out.read_text())


def test_the_fake_django_is_importable_from_the_probe_path(tmp_path: Path) -> None:
    # guards the probe: with the stand-ins on the path, importing them shows in sys.modules
    fake_django(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    code = (
        "import sys, django.utils.functional, rest_framework; "
        "print(sorted(m for m in sys.modules if m.startswith(('django', 'rest_framework'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "['django', 'django.utils', 'django.utils.functional', 'rest_framework']"


def test_import_prints_nothing(probe: tuple[subprocess.CompletedProcess[str], dict]) -> None:
    result, _ = probe
    assert result.stdout == ""
    assert result.stderr == ""


def test_import_does_not_import_drf_or_django_settings(
    probe: tuple[subprocess.CompletedProcess[str], dict],
) -> None:
    _, state = probe
    assert [m for m in state["modules"] if not m.startswith("django")] == []


def test_import_does_not_import_django(probe: tuple[subprocess.CompletedProcess[str], dict]) -> None:
    _, state = probe
    assert state["modules"] == []


def test_import_adds_no_root_handlers_and_changes_no_levels(
    probe: tuple[subprocess.CompletedProcess[str], dict],
) -> None:
    _, state = probe
    before, after = state["before"], state["after"]
    assert after["root_handlers"] == before["root_handlers"] == 0
    assert after["root_level"] == before["root_level"] == 20
    assert {"app", "tchu", "tchu.dispatch", "celery", "kombu"} <= set(before["loggers"])
    assert after["disable"] == before["disable"]
    for name, config in before["loggers"].items():  # loggers that existed before keep level and propagation
        # (dependencies may give their own loggers a NullHandler, as celery does; tchu's are checked below)
        assert after["loggers"][name]["level"] == config["level"], name
        assert after["loggers"][name]["propagate"] == config["propagate"], name


def test_tchu_loggers_have_no_handlers_and_no_level(
    probe: tuple[subprocess.CompletedProcess[str], dict],
) -> None:
    _, state = probe
    tchu_loggers = {n: c for n, c in state["after"]["loggers"].items() if n == "tchu" or n.startswith("tchu.")}
    assert tchu_loggers, "tchu's modules create their loggers at import; the probe should see them"
    assert tchu_loggers == {name: {"level": 0, "handlers": 0, "propagate": True} for name in tchu_loggers}
