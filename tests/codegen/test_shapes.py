"""Schema shapes whose generated code is easy to get wrong: maps, pattern keys, constrained items, list defaults.

The catalog is generated into a temporary project as the package ``shapes``, checked with ruff and mypy
``--strict`` as a user's project would, and published through a recording transport in a subprocess (importing
the package registers its schemas in tchu's process-wide catalog).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent

TAGGED = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "x-tchu": {"owner": "catalogue", "version": 2, "deprecated": True, "description": "An item was tagged."},
    "type": "object",
    "required": ["item_id", "codes"],
    "additionalProperties": False,
    "properties": {
        "item_id": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}, "default": ["new"]},
        "codes": {"type": "array", "items": {"type": "string", "minLength": 2}},
        "scores": {"type": "object", "additionalProperties": {"type": "integer"}},
        "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 5}},
        "meta": {"type": "object", "patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": False},
        "sizes": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 9}},
        "dims": {"type": "object", "default": {"w": 1}, "properties": {"w": {"type": "integer"}}},
    },
    "examples": [{"item_id": 1, "codes": ["ab"]}],
}
# a second event with a property of the same name and other constraints: its item type must not be renamed
NOTED = {
    "type": "object",
    "required": ["codes"],
    "properties": {"codes": {"type": "array", "items": {"type": "string", "maxLength": 3}}},
}


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False, timeout=300)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shapes")
    (root / "schemas").mkdir()
    (root / "schemas" / "item.tagged.json").write_text(json.dumps(TAGGED))
    (root / "schemas" / "item.noted.json").write_text(json.dumps(NOTED))
    out = run(root, sys.executable, "-m", "codegen", "--out", "shapes")
    assert out.returncode == 0, out.stderr
    return root


def source(project: Path, name: str) -> str:
    return (project / "shapes" / name).read_text()


def test_constrained_items_and_map_values_are_named_after_their_place(project: Path) -> None:
    models = source(project, "models.py")
    flat = "".join(models.split())
    assert 'ItemTaggedCodesItem=TypeAliasType("ItemTaggedCodesItem",Annotated[str,Field(min_length=2)])' in flat
    assert 'ItemNotedCodesItem=TypeAliasType("ItemNotedCodesItem",Annotated[str,Field(max_length=3)])' in flat
    assert 'ItemTaggedSizesItem=TypeAliasType("ItemTaggedSizesItem",Annotated[int,Field(ge=1,le=9)])' in flat
    assert "labels: dict[str, ItemTaggedLabelsValue] | None = None" in models
    assert "RootModel" not in models  # a list of codes takes plain strings


def test_publisher_signature_takes_plain_types(project: Path) -> None:
    module = source(project, "item_tagged.py")
    assert "    codes: list[ItemTaggedCodesItem],\n" in module
    assert "    meta: dict[str, str] | None = None,\n" in module  # the key pattern stays on the model
    assert "    tags: list[str] | None = None,\n" in module  # never a shared mutable default
    assert "    dims: ItemTaggedDims | None = None,\n" in module
    assert "Annotated" not in module.split("def publish_item_tagged", 1)[1]


def test_ruff_with_bugbear_and_isort(project: Path) -> None:
    result = run(
        project,
        str(BIN / "ruff"), "check", "--isolated", "--no-cache", "--output-format", "concise",
        "--select", "E,F,W,B,UP,I", "--ignore", "E501", "--line-length", "120", "--target-version", "py311", "shapes",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout


USAGE = """
from shapes import ItemTaggedDims, publish_item_noted, publish_item_tagged

publish_item_noted(codes=["abc"])
publish_item_tagged(
    item_id=1, codes=["ab"], tags=["a"], scores={"a": 1}, labels={"a": "b"}, meta={"x-a": "b"}, sizes=[2],
    dims=ItemTaggedDims(w=2),
)
publish_item_tagged(item_id=1, codes=[1])  # a wrong item type
publish_item_tagged(item_id=1, codes=["ab"], scores={"a": "high"})  # a wrong value type
"""


def test_mypy_strict_accepts_plain_values_and_flags_wrong_types_and_deprecation(project: Path, tmp_path: Path) -> None:
    (project / "usage.py").write_text(USAGE)
    plain = run(project, str(BIN / "mypy"), "--strict", "--cache-dir", str(tmp_path), "shapes")
    assert plain.returncode == 0, plain.stdout  # the package's own ignore comment is not an unused one
    cmd = [str(BIN / "mypy"), "--strict", "--cache-dir", str(tmp_path), "--enable-error-code", "deprecated"]
    result = run(project, *cmd, "shapes", "usage.py")
    errors = [line.split(": error: ")[1] for line in result.stdout.splitlines() if ": error: " in line]
    by_line = sorted(int(line.split(":")[1]) for line in result.stdout.splitlines() if ": error: " in line)
    assert by_line == [2, 9, 10], result.stdout  # the import of the deprecated publisher, and the two bad calls
    assert "item.tagged is deprecated in the event catalog (schemas/item.tagged.json)  [deprecated]" in errors[0]
    assert any('List item 0 has incompatible type "int"' in e for e in errors), errors
    assert any('Dict entry 0 has incompatible type "str": "str"' in e for e in errors), errors


SCRIPT = """
import json, warnings
from tchu import PayloadValidationError, TchuClient
import shapes


class Recording:
    def __init__(self):
        self.sent = []

    def send(self, envelope):
        self.sent.append(envelope)

    def call(self, envelope, timeout):
        raise AssertionError("no call expected")


client = TchuClient(transport=Recording())
out = {}


def attempt(name, **kwargs):
    before = len(client.transport.sent)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            shapes.publish_item_tagged(client=client, **kwargs)
    except PayloadValidationError as exc:
        out[name] = {"errors": exc.errors()}
    else:
        out[name] = {"payload": client.transport.sent[-1].payload}
    out[name]["sent"] = len(client.transport.sent) - before
    out[name]["warnings"] = [(w.category.__name__, str(w.message), w.filename) for w in caught]


attempt("minimal", item_id=1, codes=["ab"])
attempt("full", item_id=1, codes=["ab"], tags=["a"], scores={"a": 1}, labels={"k": "v"}, meta={"x-a": "b"})
attempt("short_code", item_id=1, codes=["ab", "c"])
attempt("long_label", item_id=1, codes=["ab"], labels={"k": "toolong"})
attempt("bad_meta_key", item_id=1, codes=["ab"], meta={"y": "b"})
attempt("size_out_of_range", item_id=1, codes=["ab"], sizes=[1, 10])
attempt("string_for_int", item_id="7", codes=["ab"])
attempt("bool_for_int", item_id=True, codes=["ab"])
attempt("string_score", item_id=1, codes=["ab"], scores={"a": "1"})
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def published(project: Path) -> dict[str, Any]:
    result = run(project, sys.executable, "-c", SCRIPT)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def test_valid_values_are_sent_as_given(published: dict[str, Any]) -> None:
    assert published["minimal"]["payload"] == {"item_id": 1, "codes": ["ab"]}
    assert published["full"]["payload"] == {
        "item_id": 1, "codes": ["ab"], "tags": ["a"], "scores": {"a": 1}, "labels": {"k": "v"}, "meta": {"x-a": "b"},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("case", "path"),
    [
        ("short_code", "$.codes[1]"),
        ("long_label", "$.labels.k"),
        ("bad_meta_key", "$.meta"),
        ("size_out_of_range", "$.sizes[1]"),
        ("string_for_int", "$.item_id"),
        ("bool_for_int", "$.item_id"),
        ("string_score", "$.scores.a"),
    ],
)
def test_invalid_values_are_refused_naming_the_field_and_nothing_is_sent(
    published: dict[str, Any], case: str, path: str
) -> None:
    assert published[case]["sent"] == 0
    assert path in [p for p, _ in published[case]["errors"]], published[case]["errors"]


def test_publishing_a_deprecated_event_warns_at_the_callers_line(published: dict[str, Any]) -> None:
    (warning,) = published["minimal"]["warnings"]
    category, message, filename = warning
    assert category == "DeprecationWarning"
    assert message.startswith("'item.tagged' is deprecated in the event catalog (schemas/item.tagged.json)")
    assert "(catalogue)" in message
    assert filename == "<string>"  # the user's line (the script's), not tchu's or the generated publisher's
