"""The public surface: ``tchu.__all__`` is sorted, complete and importable; the version is the changelog's."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import ModuleType

import tchu

PACKAGE_INIT = Path(tchu.__file__)
CHANGELOG = PACKAGE_INIT.parent.parent / "CHANGELOG.md"
VERSION_HEADING = re.compile(r"^## \[(?P<version>[^\]]+)\]", re.MULTILINE)


def names_bound_in_init() -> set[str]:
    """Every top-level name ``tchu/__init__.py`` binds, read from its source."""
    tree = ast.parse(PACKAGE_INIT.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom | ast.Import):
            names |= {alias.asname or alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
    return names


def test_all_is_sorted() -> None:
    assert tchu.__all__ == sorted(tchu.__all__)


def test_all_has_no_duplicates() -> None:
    assert len(tchu.__all__) == len(set(tchu.__all__))


def test_every_name_in_all_is_importable() -> None:
    namespace: dict[str, object] = {}
    exec("from tchu import *", namespace)  # noqa: S102 -- the star import is what __all__ governs
    missing = [name for name in tchu.__all__ if name not in namespace]
    assert missing == []
    for name in tchu.__all__:
        assert namespace[name] is getattr(tchu, name)


def test_every_public_name_defined_in_init_is_exported() -> None:
    public = {name for name in names_bound_in_init() if not name.startswith("_")}
    assert len(public) > 20  # the parse found the imports
    assert sorted(public - set(tchu.__all__)) == []


def test_every_public_attribute_is_exported_or_a_submodule() -> None:
    # the same check at runtime: submodules become attributes of the package when imported
    unexported = {
        name
        for name, value in vars(tchu).items()
        if not name.startswith("_") and not isinstance(value, ModuleType) and name not in tchu.__all__
    }
    assert unexported == set()


def test_all_exports_nothing_private_but_the_version() -> None:
    assert [name for name in tchu.__all__ if name.startswith("_")] == ["__version__"]


def test_version_matches_the_newest_changelog_heading() -> None:
    headings = VERSION_HEADING.findall(CHANGELOG.read_text(encoding="utf-8"))
    versions = [v for v in headings if v.lower() != "unreleased"]
    assert versions, f"no '## [x.y.z] - ...' heading in {CHANGELOG}"
    assert tchu.__version__ == versions[0]


def test_version_is_semantic() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:[-+.][0-9A-Za-z.]+)?", tchu.__version__)
