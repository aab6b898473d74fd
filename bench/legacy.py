"""tchu-tchu releases from PyPI, each in a virtualenv of its own, for comparisons and compatibility tests.

    python -m bench.legacy            # build (or check) the tchu-tchu 2.2.3 virtualenv and print its python

A release's virtualenv lives beside the repository's files as ``.venv-tchu-tchu-<version>`` (ignored by git),
holds the pinned distributions and never tchu itself. :func:`ensure_venv` reuses it while it imports the
release with the pinned versions, and rebuilds it otherwise; a file lock keeps two processes from building the
same one at once. The integration tests (``tests/integration/test_compat_tchu_tchu.py``) and the benchmarks
(``python -m bench``) share it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class LegacyVenvError(RuntimeError):
    """A tchu-tchu virtualenv cannot be built or is unusable; the message says which step failed and why."""


@dataclass(frozen=True)
class LegacyRelease:
    """A tchu-tchu release installed in its own virtualenv, with pinned dependencies."""

    version: str
    pins: tuple[tuple[str, str], ...]  # (distribution, version) checked on reuse
    extra: tuple[str, ...] = ()  # further requirements, any version
    imports: tuple[str, ...] = ("tchu_tchu", "celery", "kombu")

    @property
    def path(self) -> Path:
        return ROOT / f".venv-tchu-tchu-{self.version}"

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def requirements(self) -> list[str]:
        return [f"{dist}=={version}" for dist, version in self.pins] + list(self.extra)


# Celery 5.5.3 was current when tchu-tchu 2.2.3 came out (October 2025), so the legacy fleet also runs on an
# older Celery than tchu's own venv: the messages cross Celery versions as they would in a real migration.
TCHU_TCHU_223 = LegacyRelease(
    "2.2.3",
    pins=(("tchu-tchu", "2.2.3"), ("celery", "5.5.3")),
    extra=("redis>=5,<9",),
    imports=("tchu_tchu", "celery", "kombu", "redis"),
)


def clean_env() -> dict[str, str]:
    """This process's environment without the variables that would leak its interpreter's paths."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        env.pop(name, None)
    return env


def venv_problem(release: LegacyRelease) -> str | None:
    """None when ``release``'s venv imports tchu-tchu with the pinned versions and cannot import tchu."""
    if not release.python.exists():
        return f"{release.python} does not exist"
    code = (
        "import importlib, importlib.metadata as m, importlib.util, json, sys\n"
        "mods = sys.argv[1].split(',')\n"
        "for mod in mods: importlib.import_module(mod)\n"
        "dists = sys.argv[2].split(',')\n"
        "print(json.dumps({'versions': {d: m.version(d) for d in dists},"
        " 'tchu': importlib.util.find_spec('tchu') is not None}))\n"
    )
    dists = [dist for dist, _ in release.pins]
    try:
        proc = subprocess.run(  # noqa: S603 -- the venv's own interpreter with a fixed program
            [str(release.python), "-c", code, ",".join(release.imports), ",".join(dists)],
            env=clean_env(),
            cwd=release.path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {release.python}: {exc}"
    if proc.returncode != 0:
        return f"import check failed:\n{proc.stderr[-3000:]}"
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    if found["tchu"]:
        return "tchu is importable in it"
    wrong = {d: v for d, v in found["versions"].items() if v != dict(release.pins)[d]}
    return f"wrong versions installed: {wrong}" if wrong else None


def _run(cmd: list[str], what: str, timeout: float) -> None:
    try:
        proc = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LegacyVenvError(f"cannot {what}: {exc}") from exc
    if proc.returncode != 0:
        raise LegacyVenvError(
            f"cannot {what} (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # two runs must not build the same venv at once
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_venv(release: LegacyRelease) -> LegacyRelease:
    """Reuse ``release``'s cached venv when valid, else (re)create it with ``python -m venv`` and pip.

    Raises:
        LegacyVenvError: the venv cannot be created, pip fails, or the result still does not import the release.
    """
    with _locked(release.path.parent / f"{release.path.name}.lock"):
        problem = venv_problem(release)
        if problem is None:
            return release
        shutil.rmtree(release.path, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(release.path)], f"create {release.path}", 300)
        _run(
            [str(release.python), "-m", "pip", "install", "--no-input", *release.requirements()],
            f"install {release.requirements()} into {release.path}",
            900,
        )
        problem = venv_problem(release)
        if problem is not None:
            raise LegacyVenvError(f"the tchu-tchu {release.version} venv {release.path} is unusable: {problem}")
    return release


if __name__ == "__main__":
    print(ensure_venv(TCHU_TCHU_223).python)
