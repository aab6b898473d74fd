"""``python -m codegen.catalog_page``: the catalog as one static HTML page.

The page is read back with the standard library's HTML parser for its content, and opened in a real headless
Chromium for what only a browser shows: the inline script filters, the links land, injected markup never runs, and
the page renders (a screenshot). Chromium is required, never skipped: ``apt-get install -y chromium
chromium-driver``. ``TCHU_UPDATE_SCREENSHOT=1`` also writes the screenshot to ``docs/catalog.png``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from catalog_support import catalog, write

from codegen.__main__ import main as codegen_main
from codegen.catalog_page import Field, fields, main, render
from tchu.catalog_files import load_catalog
from tchu.errors import InvalidPatternError

ROOT = Path(__file__).resolve().parents[2]
KEYS = [
    "order.calculate_total",
    "order.created",
    "order.payment.completed",
    "user.created",
    "user.deleted",
    "user.updated",
    "user.validate",
]
# The example services of examples/.
CONSUMERS = {
    "analytics": ["user.*", "#"],
    "notifications": ["user.created"],
    "users": ["user.deleted", "user.validate"],
}
PRODUCERS = {"web": ["user.validate"]}
INSTALL = "apt-get install -y chromium chromium-driver"
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})


# -- reading the page back -----------------------------------------------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def clean(self) -> str:
        return " ".join(self.text().split())

    def all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if (tag is None or child.tag == tag) and all(_has(child, k, v) for k, v in attrs.items()):
                    found.append(child)
                found += child.all(tag, **attrs)
        return found

    def one(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag} {attrs}>"
        return found[0]


def _has(node: Node, key: str, value: str) -> bool:
    key = key.rstrip("_").replace("_", "-")
    actual = node.attrs.get(key)
    if key == "class":
        return value in (actual or "").split()
    return actual == value


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(page: str) -> Node:
    builder = TreeBuilder()
    builder.feed(page)
    builder.close()
    assert [n.tag for n in builder.stack] == ["#document"], "unclosed elements"
    return builder.root


def section(doc: Node, key: str) -> Node:
    return doc.one("section", id=key)


def meta(sec: Node) -> dict[str, str]:
    dl = sec.one("dl", class_="meta")
    terms = [dt.clean() for dt in dl.all("dt")]
    return dict(zip(terms, [dd.clean() for dd in dl.all("dd")], strict=True))


def table_after(sec: Node, heading: str) -> list[list[str]]:
    """The rows (cells as text) of the first table after the ``<h3>`` named ``heading``."""
    children = [c for c in sec.children if isinstance(c, Node)]
    index = next(i for i, c in enumerate(children) if c.tag == "h3" and c.clean() == heading)
    table = children[index + 1]
    assert table.tag == "table", f"{heading}: {table.tag} follows, not a table"
    return [[td.clean() for td in tr.all("td")] for tr in table.one("tbody").all("tr")]


def field_rows(sec: Node, heading: str = "Fields") -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in table_after(sec, heading)}


def internal_links(doc: Node) -> list[str]:
    return [a.attrs["href"] or "" for a in doc.all("a") if (a.attrs.get("href") or "").startswith("#")]


def event(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "object", "properties": properties}
    for key, value in extra.items():
        doc[key.replace("x_tchu", "x-tchu")] = value
    return doc


@pytest.fixture(scope="module")
def page() -> Node:
    return parse(render(catalog(), consumers=CONSUMERS, producers=PRODUCERS))


# -- content -------------------------------------------------------------------------------------------------


def test_every_event_has_a_section_and_a_contents_link(page: Node) -> None:
    assert [s.attrs["id"] for s in page.all("section", class_="event")] == KEYS
    toc = page.one("nav", class_="toc")
    assert [li.attrs["data-key"] for li in toc.all("li")] == KEYS
    assert [a.attrs["href"] for a in toc.all("a")] == [f"#{k}" for k in KEYS]
    ids = [n.attrs["id"] for n in page.all() if "id" in n.attrs]
    assert len(ids) == len(set(ids)), "duplicate ids"
    assert {link[1:] for link in internal_links(page)} <= set(ids)
    for key in KEYS:
        assert section(page, key).one("h2").one("a").attrs["href"] == f"#{key}"
    assert page.one("title").clean() == "Event catalog"


def test_an_event_shows_its_metadata(page: Node) -> None:
    created = section(page, "user.created")
    assert [p.clean() for p in created.all("p", class_="desc")] == [
        "Published once per new account.",
        "A user signed up.",
    ]
    info = meta(created)
    assert info["Owner"] == "users"
    assert info["Kind"] == "event"
    assert info["Version"] == "1"
    assert info["Status"] == "current"
    assert info["Published by"] == "users"
    assert info["Consumed by"] == "analytics (user.*, #), notifications (user.created)"
    assert info["Schema"] == "schemas/user.created.json"
    badges = [b.clean() for b in created.one("header").all("span", class_="badge")]
    assert badges == ["event", "v1"]
    assert meta(section(page, "order.created"))["Consumed by"] == "analytics (#)"
    assert meta(section(page, "order.payment.completed"))["Published by"] == "payments"


def test_fields_show_type_requirement_constraints_and_description(page: Node) -> None:
    rows = field_rows(section(page, "user.created"))
    assert list(rows) == ["user_id", "email", "name", "plan", "referrer_id", "created_at"]
    assert rows["user_id"] == ["integer", "yes", "minimum: 1", ""]
    assert rows["email"] == ["string", "yes", "format: email", ""]
    assert rows["name"] == ["string", "yes", "minLength: 1 maxLength: 200", ""]
    assert rows["plan"] == ["string", "no", 'enum: "free", "pro", "enterprise" default: "free"', ""]
    assert rows["referrer_id"] == ["integer | null", "no", "", "The user who referred this one, if any."]
    assert rows["created_at"][:3] == ["string", "no", "format: date-time"]
    chips = [c.clean() for c in section(page, "user.created").all("span", class_="constraint")]
    assert "minLength: 1" in chips
    assert "maxLength: 200" in chips


def test_nested_objects_and_refs_are_flattened(page: Node) -> None:
    order = field_rows(section(page, "order.created"))
    assert list(order) == [
        "order_id",
        "user_id",
        "items",
        "items[].id",
        "items[].quantity",
        "total",
        "total.amount",
        "total.currency",
        "coupon",
    ]
    assert order["items"][:3] == ["array of OrderItem", "yes", "minItems: 1"]
    assert order["items[].id"] == ["integer", "yes", "minimum: 1", "Product id."]
    assert order["total"] == ["Money", "yes", "no other fields", "An amount in a currency."]
    assert order["total.currency"] == ["string", "yes", "pattern: ^[A-Z]{3}$", "ISO 4217 code."]
    updated = field_rows(section(page, "user.updated"))
    assert list(updated) == ["user_id", "changes", "changes.email", "changes.name"]
    assert updated["changes"] == ["object", "yes", "no other fields", "The new values of the fields that changed."]
    assert updated["changes.email"][:2] == ["string", "no"]


def test_rpc_topics_show_their_response_and_responders(page: Node) -> None:
    validate = section(page, "user.validate")
    assert [b.clean() for b in validate.one("header").all("span", class_="badge")] == ["rpc", "v1"]
    info = meta(validate)
    assert info["Kind"] == "rpc topic (request and reply)"
    assert info["Called by"] == "web"
    assert info["Answered by"] == "users (user.validate)"  # analytics' wildcards never see rpc requests
    assert "tchu.rpc.user.validate" in info["Route"]
    assert list(field_rows(validate, "Request fields")) == ["email"]
    response = field_rows(validate, "Response fields")
    assert response == {
        "valid": ["boolean", "yes", "", ""],
        "email": ["string", "yes", "", ""],
        "reason": ["string | null", "no", "", ""],
    }
    total = section(page, "order.calculate_total")
    assert meta(total)["Answered by"] == "orders (owner)"
    assert meta(total)["Called by"] == "none known"
    assert list(field_rows(total, "Response fields")) == [
        "total",
        "total.amount",
        "total.currency",
        "discount",
        "discount.amount",
        "discount.currency",
    ]
    assert "Response fields" not in [h.clean() for h in section(page, "user.created").all("h3")]


def test_examples_are_pretty_json(page: Node) -> None:
    entries = {e.routing_key: e for e in catalog()}
    for key in KEYS:
        blocks = section(page, key).all("pre", class_="example")
        assert [json.loads(b.text()) for b in blocks] == list(entries[key].examples)
        assert all("\n  " in b.text() for b in blocks)


def test_search_text_covers_key_description_and_fields(page: Node) -> None:
    haystack = section(page, "order.created").attrs["data-search"] or ""
    for needle in ("order.created", "a customer placed an order.", "items[].quantity", "total.currency", "money"):
        assert needle in haystack
    assert haystack == haystack.lower()
    assert "payment" not in haystack


def test_deprecated_events_are_marked(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "old.thing.json": event({"id": {"type": "integer"}}, x_tchu={"owner": "legacy", "deprecated": True}),
            "new.thing.json": event({"id": {"type": "integer", "deprecated": True}}),
        },
    )
    doc = parse(render(load_catalog(tmp_path)))
    old = section(doc, "old.thing")
    assert "deprecated" in [b.clean() for b in old.one("header").all("span", class_="badge")]
    assert meta(old)["Status"] == "deprecated"
    assert doc.one("li", data_key="old.thing").all("span", class_="deprecated")
    new = section(doc, "new.thing")
    assert meta(new)["Status"] == "current"
    assert meta(new)["Owner"] == "not set"
    assert meta(new)["Version"] == "not set"
    assert field_rows(new)["id"][2] == "deprecated"  # a deprecated field is flagged in its row
    assert not doc.one("li", data_key="new.thing").all("span", class_="deprecated")


HOSTILE = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">&amp; "quotes"'


def hostile_catalog(root: Path) -> Path:
    return write(
        root,
        {
            "evil.thing.json": event(
                {
                    "note": {"type": "string", "description": HOSTILE, "pattern": "^</td><script>|"},
                    "x</td><script>alert(1)</script>": {"type": "integer"},
                },
                description=HOSTILE,
                examples=[{"note": "</pre><script>alert(2)</script>"}],
                x_tchu={"owner": "<b>team</b>"},
            )
        },
    )


def test_all_text_is_escaped(tmp_path: Path) -> None:
    html = render(load_catalog(hostile_catalog(tmp_path)), consumers={"<i>svc</i>": ["evil.*"]})
    doc = parse(html)
    assert len(doc.all("script")) == 1, "only the page's own script"
    assert not doc.all("img")
    assert not doc.all("b")
    assert not doc.all("i")
    evil = section(doc, "evil.thing")
    assert evil.one("p", class_="desc").text() == HOSTILE
    assert meta(evil)["Owner"] == "<b>team</b>"
    assert meta(evil)["Consumed by"] == "<i>svc</i> (evil.*)"
    rows = field_rows(evil)
    assert rows["note"][3] == HOSTILE
    assert rows["note"][2] == "pattern: ^</td><script>|"
    assert "x</td><script>alert(1)</script>" in rows
    assert json.loads(evil.one("pre").text()) == {"note": "</pre><script>alert(2)</script>"}
    assert HOSTILE.lower() in (evil.attrs["data-search"] or "")


def test_the_content_security_policy_allows_exactly_the_inline_style_and_script(page: Node) -> None:
    policy = page.one("meta", http_equiv="Content-Security-Policy").attrs["content"] or ""
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert directives["style-src"] == digest(page.one("style").text())
    assert directives["script-src"] == digest(page.one("script").text())
    assert not [n for n in page.all() if "style" in n.attrs or any(a.startswith("on") for a in n.attrs)]
    assert not [n for n in page.all() if n.attrs.get("src") or n.tag in {"link", "iframe", "object"}]


FINDINGS: list[dict[str, Any]] = [
    {
        "event": "user.created",
        "pointer": "/properties/name/maxLength",
        "rule": "bound-tightened",
        "old": 200,
        "new": 100,
        "directions": ["backward"],
        "allowed": False,
    },
    {
        "event": "user.created",
        "pointer": "/properties/nickname",
        "rule": "property-added",
        "old": None,
        "new": {"type": "string"},
        "directions": ["forward"],
        "allowed": True,
    },
    {
        "event": "user.renamed",
        "pointer": "",
        "rule": "event-removed",
        "old": "user.renamed",
        "new": None,
        "directions": "both",
        "allowed": False,
    },
]


def test_compatibility_history_is_shown_per_event() -> None:
    doc = parse(render(catalog(), compat_history=FINDINGS))
    rows = table_after(section(doc, "user.created"), "Compatibility history")
    assert rows == [
        ["bound-tightened", "/properties/name/maxLength", "200", "100", "backward", "no"],
        ["property-added", "/properties/nickname", "", '{"type": "string"}', "forward", "yes"],
    ]
    assert section(doc, "user.created").one("span", class_="breaking").clean() == "no"
    deleted = section(doc, "user.deleted")
    assert "No findings." in [p.clean() for p in deleted.all("p", class_="none")]
    other = doc.one("section", id="compat-other")
    other_rows = [[td.clean() for td in tr.all("td")] for tr in other.one("tbody").all("tr")]
    assert other_rows == [["user.renamed", "event-removed", "", '"user.renamed"', "", "both", "no"]]
    assert "#compat-other" in internal_links(doc)
    plain = parse(render(catalog()))
    assert not [h for h in plain.all("h3") if h.clean() == "Compatibility history"]
    assert not plain.all("section", id="compat-other")


def test_compatibility_findings_as_the_compat_gate_writes_them() -> None:
    finding: dict[str, Any] = {
        "event": "user.created",
        "pointer": "/properties/plan/enum",
        "rule": "enum-value-removed",
        "old": ["free", "pro"],
        "new": ["pro"],
        "breaks": ["backward"],
        "message": "allowed values restricted",
        "status": "allowed",
        "allowed_by": "version bump 1 -> 2",
    }
    rows = table_after(
        section(parse(render(catalog(), compat_history=[finding])), "user.created"), "Compatibility history"
    )
    assert rows == [
        [
            "enum-value-removed allowed values restricted",
            "/properties/plan/enum",
            '["free", "pro"]',
            '["pro"]',
            "backward",
            "allowed (version bump 1 -> 2)",
        ]
    ]


def test_invalid_patterns_are_refused() -> None:
    with pytest.raises(InvalidPatternError):
        render(catalog(), consumers={"a": ["user*"]})


# -- fields() ------------------------------------------------------------------------------------------------


def test_fields_follow_recursive_refs_all_of_maps_and_alternatives() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "tree": {"$ref": "#/$defs/Node"},
            "labels": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
            "either": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/Node"}]},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "uniqueItems": True},
            "merged": {"allOf": [{"$ref": "#/$defs/Base"}, {"properties": {"extra": {"type": "boolean"}}}]},
        },
        "required": ["tree"],
        "$defs": {
            "Node": {
                "title": "Node",
                "type": "object",
                "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}}},
                "required": ["name"],
            },
            "Base": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
        },
    }
    schema["$defs"]["Node"]["properties"]["children"]["items"] = {"$ref": "#/$defs/Node"}
    rows = {f.name: f for f in fields(schema)}
    assert list(rows) == [
        "tree",
        "tree.name",
        "tree.children",
        "labels",
        "labels.*",
        "either",
        "tags",
        "merged",
        "merged.id",
        "merged.extra",
    ]
    assert rows["tree"] == Field("tree", "Node", required=True, constraints=(), description="")
    assert rows["tree.name"].required
    assert rows["tree.children"].type == "array of Node (recursive)"
    assert rows["labels"].type == "map of integer"
    assert rows["labels.*"].constraints == ("minimum: 0",)
    assert rows["either"].type == "string | Node"
    assert rows["tags"].constraints == ("uniqueItems: true", "items maxLength: 8")
    assert rows["merged.id"].required
    assert not rows["merged.extra"].required


# -- command line --------------------------------------------------------------------------------------------


def test_main_writes_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    compat = tmp_path / "compat.json"
    compat.write_text(json.dumps(FINDINGS), encoding="utf-8")
    out = tmp_path / "site" / "catalog.html"
    argv = ["--schemas", str(ROOT / "schemas"), "--out", str(out), "--compat", str(compat), "--title", "Shop"]
    argv += ["--consumes", "analytics=user.*,#", "--consumes", "notifications=user.created"]
    argv += ["--consumes", "users=user.deleted,user.validate", "--produces", "web=user.validate"]
    assert main(argv) == 0
    assert out.read_text(encoding="utf-8") == render(
        catalog(), consumers=CONSUMERS, producers=PRODUCERS, compat_history=FINDINGS, title="Shop"
    )
    assert f"wrote {out}" in capsys.readouterr().out


def test_main_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "catalog.html"
    assert main(["--schemas", str(tmp_path / "missing"), "--out", str(out)]) == 1
    assert "catalog folder does not exist" in capsys.readouterr().err
    bad = tmp_path / "compat.json"
    bad.write_text('{"findings": 1}', encoding="utf-8")
    assert main(["--schemas", str(ROOT / "schemas"), "--out", str(out), "--compat", str(bad)]) == 1
    assert "must hold the output of python -m codegen compat --json" in capsys.readouterr().err
    assert main(["--schemas", str(ROOT / "schemas"), "--out", str(out), "--consumes", "a=#.x*"]) == 1
    assert "wildcards match whole words only" in capsys.readouterr().err
    assert not out.exists()


def test_runs_as_a_module(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "codegen.catalog_page", "--schemas", str(ROOT / "schemas"), "--out", "c.html"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "c.html").read_text(encoding="utf-8") == render(catalog())


# -- in a real browser ---------------------------------------------------------------------------------------


@dataclass
class Browser:
    executable: str
    profile: Path

    def run(self, url: str, *args: str) -> str:
        command = [
            self.executable,
            "--headless=new",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--allow-file-access-from-files",
            f"--user-data-dir={self.profile}",
            *(["--no-sandbox"] if os.geteuid() == 0 else []),  # Chromium's sandbox refuses to run as root
            *args,
            url,
        ]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
        assert proc.returncode == 0, f"{' '.join(command)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
        return proc.stdout

    def dom(self, url: str) -> str:
        return self.run(url, "--virtual-time-budget=1000", "--dump-dom")

    def screenshot(self, url: str, path: Path, width: int, height: int) -> bytes:
        self.run(url, f"--screenshot={path}", f"--window-size={width},{height}")
        assert path.is_file(), f"no screenshot written to {path}"
        return path.read_bytes()


def find_browser(profile: Path) -> Browser:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        executable = shutil.which(name)
        if executable:
            return Browser(executable, profile)
    pytest.fail(f"Chromium is not installed; the catalog page's browser tests need it: {INSTALL}", pytrace=False)


@pytest.fixture
def browser(tmp_path: Path) -> Browser:
    return find_browser(tmp_path / "chromium-profile")


# A page that opens the catalog in a frame and reports what the browser shows: which sections and contents
# entries are rendered (have a box), after loading with a search in the address and after typing a search.
PROBE = """<!DOCTYPE html>
<html><body><iframe id="frame" width="1200" height="900"></iframe><pre id="report"></pre>
<script>
var frame = document.getElementById("frame");
var steps = [];
function shown(doc, selector, key) {
  return Array.prototype.filter.call(doc.querySelectorAll(selector), function (el) {
    return el.getClientRects().length > 0;
  }).map(function (el) { return el.getAttribute(key); });
}
frame.addEventListener("load", function () {
  var doc = frame.contentDocument, win = frame.contentWindow;
  function look(name) {
    steps.push({step: name, sections: shown(doc, "section.event", "id"), toc: shown(doc, ".toc li", "data-key"),
                count: doc.getElementById("search-count").textContent, noMatch: shown(doc, "#no-match", "id").length,
                hash: win.location.hash, title: doc.title});
  }
  look("loaded");
  var box = doc.getElementById("search-box");
  TYPED.forEach(function (text) {
    box.value = text;
    box.dispatchEvent(new win.Event("input"));
    look(text);
  });
  document.getElementById("report").textContent = JSON.stringify(steps);
});
frame.src = PAGE;
</script></body></html>
"""


def probe(browser: Browser, folder: Path, page: str, typed: list[str]) -> list[dict[str, Any]]:
    html = PROBE.replace("TYPED", json.dumps(typed)).replace("PAGE", json.dumps(page))
    (folder / "probe.html").write_text(html, encoding="utf-8")
    dom = parse(browser.dom((folder / "probe.html").as_uri()))
    report = dom.one("pre", id="report").text()
    assert report, "the probe page reported nothing: the frame did not load"
    steps: list[dict[str, Any]] = json.loads(report)
    return steps


def test_the_page_in_a_browser_links_and_filters(browser: Browser, tmp_path: Path) -> None:
    path = tmp_path / "catalog.html"
    path.write_text(render(catalog(), consumers=CONSUMERS, producers=PRODUCERS), encoding="utf-8")
    dom = parse(browser.dom(path.as_uri()))
    assert [s.attrs["id"] for s in dom.all("section", class_="event")] == KEYS
    assert not [s for s in dom.all("section") if "hidden" in s.attrs]
    ids = {n.attrs["id"] for n in dom.all() if "id" in n.attrs}
    links = internal_links(dom)
    assert len(links) >= 2 * len(KEYS)
    assert {link[1:] for link in links} <= ids
    assert dom.one("span", id="search-count").clean() == "7 of 7 shown"

    steps = probe(browser, tmp_path, "catalog.html#q=payment", ["user email", "USER", "nothing-matches-this", ""])
    loaded, both, upper, nothing, cleared = steps
    assert loaded["sections"] == loaded["toc"] == ["order.payment.completed"]
    assert loaded["count"] == "1 of 7 shown"
    assert not loaded["noMatch"]
    assert both["sections"] == both["toc"] == ["user.created", "user.updated", "user.validate"]
    assert both["hash"] == "#q=user%20email"
    assert upper["sections"] == ["order.created", "user.created", "user.deleted", "user.updated", "user.validate"]
    assert nothing["sections"] == nothing["toc"] == []
    assert nothing["noMatch"] == 1
    assert nothing["count"] == "0 of 7 shown"
    assert cleared["sections"] == cleared["toc"] == KEYS
    assert cleared["hash"] == ""


def test_injected_markup_never_runs_in_a_browser(browser: Browser, tmp_path: Path) -> None:
    html = render(load_catalog(hostile_catalog(tmp_path / "schemas")))
    escaped = tmp_path / "escaped.html"
    escaped.write_text(html, encoding="utf-8")
    # The same page with markup that escaped escaping: the Content-Security-Policy must still stop it.
    unescaped = tmp_path / "unescaped.html"
    unescaped.write_text(html.replace("</main>", f"{HOSTILE}</main>"), encoding="utf-8")
    scripts = {}
    for path in (escaped, unescaped):
        [step] = probe(browser, tmp_path, f"{path.name}#q=evil", [])
        assert step["title"] == "Event catalog", f"{path.name}: injected script ran"
        assert step["sections"] == ["evil.thing"], f"{path.name}: the page's own script did not run"
        dom = parse(browser.dom(path.as_uri()))
        assert dom.one("title").clean() == "Event catalog", f"{path.name}: injected script ran"
        scripts[path.name] = len(dom.all("script"))
    assert scripts == {"escaped.html": 1, "unescaped.html": 2}  # the injected script is there, and did not run


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_page_renders_a_screenshot(browser: Browser, tmp_path: Path) -> None:
    path = tmp_path / "catalog.html"
    path.write_text(render(catalog(), consumers=CONSUMERS), encoding="utf-8")
    shot = browser.screenshot(path.as_uri(), tmp_path / "catalog.png", 1280, 1600)
    assert png_size(shot) == (1280, 1600)
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><title>blank</title>", encoding="utf-8")
    empty = browser.screenshot(blank.as_uri(), tmp_path / "blank.png", 1280, 1600)
    assert len(shot) > 10 * len(empty), f"the page renders as blank ({len(shot)} vs {len(empty)} bytes)"
    if os.environ.get("TCHU_UPDATE_SCREENSHOT") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(tmp_path / "catalog.png", ROOT / "docs" / "catalog.png")


def test_the_browser_check_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=re.escape(INSTALL)):
        find_browser(tmp_path / "profile")


def test_the_compat_gates_json_report_is_read_as_the_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "base"
    shutil.copytree(ROOT / "schemas", base)
    changed = tmp_path / "schemas"
    shutil.copytree(ROOT / "schemas", changed)
    doc = json.loads((changed / "user.created.json").read_text(encoding="utf-8"))
    doc["required"].append("created_at")
    (changed / "user.created.json").write_text(json.dumps(doc), encoding="utf-8")
    report = tmp_path / "report.json"
    codegen_main(["compat", "--schemas", str(changed), "--against", str(base), "--code", str(tmp_path), "--json"])
    report.write_text(capsys.readouterr().out, encoding="utf-8")
    out = tmp_path / "catalog.html"
    assert main(["--schemas", str(changed), "--out", str(out), "--compat", str(report)]) == 0
    history = section(parse(out.read_text(encoding="utf-8")), "user.created")
    assert "property-now-required" in history.text()
