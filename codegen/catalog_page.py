"""Render a catalog as one static, self-contained HTML page.

    python -m codegen.catalog_page [--schemas schemas] [--out catalog.html] [--title TITLE] [--compat FILE.json]
                                   [--consumes SERVICE=PATTERN[,PATTERN...]]... [--produces SERVICE=KEY[,KEY...]]...

The page needs no server and loads nothing: its CSS and its small script are inline, and a Content-Security-Policy
allows exactly those two (by hash) and nothing else, so no text from a schema can run as script even if it were
not escaped (it always is). Every event has its own section, anchored by its routing key
(``catalog.html#user.created``): description, owner, kind, version, deprecation, the services that send and
receive it, its fields as a table (nested objects and ``$ref`` to shared definitions flattened with dotted
names, ``items[].id`` for arrays of objects), its examples, an rpc topic's response fields, and, with
``--compat``, compatibility findings.

The search box filters events by routing key, description and field names and descriptions (every word must
occur). A search is part of the address: ``catalog.html#q=payment`` opens the page filtered, and typing updates
the address so a filtered view can be shared.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codegen.asyncapi import (
    EXCHANGE_NAME,
    NO_SERVICES,
    RPC_QUEUE_PREFIX,
    SERVICE_QUEUE_SUFFIX,
    Services,
    add_catalog_arguments,
    roles,
    services_of,
)
from tchu.catalog_files import CatalogEntry, load_catalog, resolve_pointer
from tchu.errors import TchuError

__all__ = ["Field", "fields", "main", "render"]

DEFAULT_TITLE = "Event catalog"
MAX_DEPTH = 32  # nesting deeper than this is shown as its type only
# Keywords shown in the constraints column, in this order.
_CONSTRAINTS = (
    "format", "pattern", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "multipleOf", "minLength",
    "maxLength", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties", "enum", "const", "default",
)  # fmt: skip
_FLAGS = (
    ("deprecated", "deprecated"),
    ("readOnly", "read-only"),
    ("writeOnly", "write-only"),
    ("x-tchu-sensitive", "sensitive"),
)

_CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; --accent: #0969da; --bg: #ffffff;
  --event: #1a7f37; --rpc: #8250df; --warn: #9a6700; --bad: #cf222e; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9198a1; --line: #3d444d; --soft: #151b23; --accent: #4493f8; --bg: #0d1117;
    --event: #3fb950; --rpc: #ab7df8; --warn: #d29922; --bad: #f85149; }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html { scroll-padding-top: 1rem; }
body { margin: 0; background: var(--bg); color: var(--fg); line-height: 1.5;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", sans-serif; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 13px; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.top { padding: 1.25rem 2rem 1rem; border-bottom: 1px solid var(--line); display: flex; flex-wrap: wrap;
  align-items: baseline; gap: .5rem 1.5rem; }
.top h1 { margin: 0; font-size: 1.5rem; }
.top .summary { margin: 0; color: var(--muted); }
.search { margin-left: auto; display: flex; align-items: center; gap: .75rem; }
.search input { width: 22rem; max-width: 60vw; padding: .45rem .7rem; font: inherit; color: inherit;
  background: var(--bg); border: 1px solid var(--line); border-radius: 6px; }
.search input:focus { outline: 2px solid var(--accent); outline-offset: -1px; }
#search-count { color: var(--muted); font-size: .9rem; white-space: nowrap; }
.layout { display: grid; grid-template-columns: 19rem minmax(0, 1fr); }
.toc { position: sticky; top: 0; align-self: start; height: 100vh; overflow-y: auto; padding: 1rem 1rem 2rem 2rem;
  border-right: 1px solid var(--line); }
.toc h2 { font-size: .8rem; text-transform: uppercase; letter-spacing: .06em; color: var(--muted);
  margin: .25rem 0 .5rem; }
.toc ul { list-style: none; margin: 0; padding: 0; }
.toc li { margin: .15rem 0; display: flex; align-items: center; gap: .4rem; }
.toc li a { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 13px;
  overflow-wrap: anywhere; }
.toc li .badge { flex: none; }
main { padding: 0 2rem 3rem; max-width: 72rem; }
.event { padding: 1.5rem 0 1.25rem; border-bottom: 1px solid var(--line); }
.event > header { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem; }
.event h2 { margin: 0 .25rem 0 0; font-size: 1.25rem; }
.event h2 a { color: var(--fg);
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; }
.event h3 { font-size: .95rem; margin: 1.1rem 0 .4rem; }
.desc { margin: .5rem 0; }
.badge { display: inline-block; padding: 0 .5rem; border-radius: 999px; font-size: .75rem; font-weight: 600;
  border: 1px solid currentColor; line-height: 1.5; }
.badge.event { color: var(--event); }
.badge.rpc { color: var(--rpc); }
.badge.version { color: var(--muted); }
.badge.deprecated { color: var(--warn); }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .75rem 0; }
.meta dt { color: var(--muted); }
.meta dd { margin: 0; }
.svc { font-weight: 600; }
.via { color: var(--muted); }
.none { color: var(--muted); font-style: italic; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; table-layout: fixed; }
table.fields col.name { width: 24%; } table.fields col.type { width: 17%; } table.fields col.req { width: 6rem; }
table.fields col.constraints { width: 26%; }
th, td { text-align: left; vertical-align: top; padding: .35rem .6rem; border-bottom: 1px solid var(--line); }
th { background: var(--soft); font-weight: 600; }
td.name { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 13px;
  overflow-wrap: anywhere; }
td.type { color: var(--rpc); overflow-wrap: anywhere; }
td, th { overflow-wrap: anywhere; }
.constraint { display: inline-block; margin: 0 .3rem .15rem 0; padding: 0 .35rem; background: var(--soft);
  border: 1px solid var(--line); border-radius: 4px; font-size: 12px; overflow-wrap: anywhere; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem;
  overflow-x: auto; margin: .4rem 0; }
.allowed { color: var(--event); font-weight: 600; }
.breaking { color: var(--bad); font-weight: 600; }
#no-match { color: var(--muted); padding: 2rem 0; }
@media (max-width: 800px) { .layout { grid-template-columns: 1fr; } .toc { position: static; border-right: 0; } }
"""

_JS = """
(function () {
  "use strict";
  var box = document.getElementById("search-box");
  var count = document.getElementById("search-count");
  var none = document.getElementById("no-match");
  var events = Array.prototype.slice.call(document.querySelectorAll("section.event"));
  var entries = {};
  Array.prototype.forEach.call(document.querySelectorAll(".toc li[data-key]"), function (li) {
    entries[li.getAttribute("data-key")] = li;
  });
  function filter(text) {
    var terms = text.toLowerCase().split(/\\s+/).filter(function (t) { return t.length > 0; });
    var shown = 0;
    events.forEach(function (section) {
      var haystack = section.getAttribute("data-search") || "";
      var match = terms.every(function (t) { return haystack.indexOf(t) !== -1; });
      section.hidden = !match;
      if (entries[section.id]) { entries[section.id].hidden = !match; }
      if (match) { shown += 1; }
    });
    count.textContent = shown + " of " + events.length + " shown";
    none.hidden = shown !== 0;
  }
  function fromAddress() {
    var hash = location.hash;
    if (hash.indexOf("#q=") !== 0) { return false; }
    var text = hash.slice(3).replace(/\\+/g, " ");
    try { text = decodeURIComponent(text); } catch (e) { /* keep it as typed */ }
    box.value = text;
    filter(text);
    return true;
  }
  box.addEventListener("input", function () {
    filter(box.value);
    try {
      history.replaceState(null, "", box.value ? "#q=" + encodeURIComponent(box.value) : location.pathname);
    } catch (e) { /* some browsers refuse for file: pages; filtering still works */ }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "/" && document.activeElement !== box) { event.preventDefault(); box.focus(); }
  });
  window.addEventListener("hashchange", fromAddress);
  if (!fromAddress()) { filter(box.value); }
})();
"""


@dataclass(frozen=True)
class Field:
    """One row of an event's field table."""

    name: str
    type: str
    required: bool
    constraints: tuple[str, ...]
    description: str


def fields(schema: Mapping[str, Any]) -> list[Field]:
    """The fields of a resolved schema, nested objects flattened to dotted names (``total.amount``).

    An array of objects contributes ``name[].field`` rows; a map (``additionalProperties`` with a schema) ``name.*``.
    ``$ref`` into ``$defs`` is followed, and a recursive reference is shown once, typed ``Name (recursive)``.
    """
    walker = _Fields(schema)
    walker.collect(walker.resolve(schema, frozenset()), "", 0)
    return walker.rows


@dataclass(frozen=True)
class _Resolved:
    """A subschema with its ``$ref`` followed and ``allOf`` merged."""

    schema: dict[str, Any]
    name: str | None  # the referenced definition's title (or last pointer segment)
    recursive: bool  # the reference is one already being expanded
    seen: frozenset[str]  # the references expanded on the way here

    @property
    def is_object(self) -> bool:
        return isinstance(self.schema.get("properties"), dict) or self.is_map

    @property
    def is_map(self) -> bool:
        return isinstance(self.schema.get("additionalProperties"), dict) and not self.schema.get("properties")


class _Fields:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.rows: list[Field] = []

    def resolve(self, node: Any, seen: frozenset[str]) -> _Resolved:
        if not isinstance(node, dict):
            return _Resolved({} if node is not False else {"not": {}}, None, recursive=False, seen=seen)
        name: str | None = None
        while isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            target = _lookup(self.root, ref)
            if not isinstance(target, dict):
                break
            name = name or _ref_name(ref, target)
            if ref in seen:
                return _Resolved(
                    {k: v for k, v in target.items() if k != "properties"}, name, recursive=True, seen=seen
                )
            seen = seen | {ref}
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        if isinstance(node.get("allOf"), list):
            return self.merge(node, name, seen)
        return _Resolved(node, name, recursive=False, seen=seen)

    def merge(self, node: dict[str, Any], name: str | None, seen: frozenset[str]) -> _Resolved:
        """``allOf`` as one schema: properties and required of every part, other keywords from the first."""
        combined: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        for part in node["allOf"]:
            resolved = self.resolve(part, seen)
            name = name or resolved.name
            if resolved.recursive:
                return _Resolved(resolved.schema, name, recursive=True, seen=seen)
            for key, value in resolved.schema.items():
                if key == "properties" and isinstance(value, dict):
                    known = combined.get("properties", {})
                    combined["properties"] = {**known, **{k: v for k, v in value.items() if k not in known}}
                elif key == "required" and isinstance(value, list):
                    combined["required"] = [*combined.get("required", []), *value]
                else:
                    combined.setdefault(key, value)
        return _Resolved(combined, name, recursive=False, seen=seen)

    def collect(self, parent: _Resolved, prefix: str, depth: int) -> None:
        required = parent.schema.get("required", [])
        properties = parent.schema.get("properties", {})
        if isinstance(properties, dict):
            for prop, sub in properties.items():
                self.add(f"{prefix}{prop}", self.resolve(sub, parent.seen), prop in required, depth)
        extra = parent.schema.get("additionalProperties")
        if isinstance(extra, dict) and prefix:
            self.add(f"{prefix}*", self.resolve(extra, parent.seen), required=False, depth=depth)

    def add(self, name: str, field: _Resolved, required: bool, depth: int) -> None:
        description = _text(field.schema.get("description"))
        self.rows.append(Field(name, self.type_of(field), required, self.constraints(field), description))
        if field.recursive or depth >= MAX_DEPTH:
            return
        if field.is_object:
            self.collect(field, f"{name}.", depth + 1)
        items = field.schema.get("items")
        if isinstance(items, dict):
            item = self.resolve(items, field.seen)
            if not item.recursive and item.is_object:
                self.collect(item, f"{name}[].", depth + 1)

    def type_of(self, field: _Resolved) -> str:
        """``integer``, ``string | null``, ``array of OrderItem``, ``Money``, ``map of integer``, ..."""
        schema = field.schema
        shown = []
        for t in self.json_types(field):
            if t == "object" and field.name:
                shown.append(f"{field.name} (recursive)" if field.recursive else field.name)
            elif t == "object" and field.is_map:
                shown.append(f"map of {self.type_of(self.resolve(schema['additionalProperties'], field.seen))}")
            elif t == "array" and isinstance(schema.get("items"), dict):
                shown.append(f"array of {self.type_of(self.resolve(schema['items'], field.seen))}")
            else:
                shown.append(t)
        return " | ".join(dict.fromkeys(shown))

    def json_types(self, field: _Resolved) -> list[str]:
        schema = field.schema
        declared = schema.get("type")
        alternatives = schema.get("anyOf") or schema.get("oneOf")
        if isinstance(declared, str):
            return [declared]
        if isinstance(declared, list):
            return [t for t in declared if isinstance(t, str)]
        if "const" in schema:
            return [_json_type(schema["const"])]
        if isinstance(schema.get("enum"), list):
            return list(dict.fromkeys(_json_type(v) for v in schema["enum"]))
        if isinstance(alternatives, list):
            return [self.type_of(self.resolve(alternative, field.seen)) for alternative in alternatives]
        return ["object"] if field.is_object else ["any"]

    def constraints(self, field: _Resolved, prefix: str = "") -> tuple[str, ...]:
        """``minimum: 1``, ``format: email``, ``enum: "a", "b"``, ``items minLength: 1``, ``no other fields``, ..."""
        schema = field.schema
        found = []
        for key in _CONSTRAINTS:
            if key not in schema:
                continue
            value = schema[key]
            if key == "enum" and isinstance(value, list):
                found.append(f"{prefix}enum: {', '.join(_json(v) for v in value)}")
            elif key in {"format", "pattern"} and isinstance(value, str):
                found.append(f"{prefix}{key}: {value}")
            else:
                found.append(f"{prefix}{key}: {_json(value)}")
        if schema.get("additionalProperties") is False and isinstance(schema.get("properties"), dict):
            found.append(f"{prefix}no other fields")
        found += [f"{prefix}{label}" for key, label in _FLAGS if schema.get(key) is True]
        items = schema.get("items")
        if isinstance(items, dict) and not prefix:
            item = self.resolve(items, field.seen)
            if not item.recursive and not item.is_object:
                found += self.constraints(item, "items ")
        return tuple(found)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _lookup(root: Any, ref: str) -> Any:
    return resolve_pointer(root, ref[1:]) if ref.startswith("#") else None


def _ref_name(ref: str, target: Mapping[str, Any]) -> str:
    title = target.get("title")
    if isinstance(title, str) and title:
        return title
    last = ref.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~")
    return last or "schema"


# -- rendering -------------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _digest(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def render(
    entries: Sequence[CatalogEntry],
    *,
    consumers: Services = NO_SERVICES,
    producers: Services = NO_SERVICES,
    compat_history: Sequence[Mapping[str, Any]] | None = None,
    title: str = DEFAULT_TITLE,
) -> str:
    """The catalog page as one HTML document.

    ``consumers`` maps each service to its subscription patterns, ``producers`` each service to the routing keys it
    publishes or calls (see :func:`codegen.asyncapi.roles`). ``compat_history`` is a list of compatibility findings
    (``event``, ``pointer``, ``rule``, ``old``, ``new``, ``directions``, ``allowed``), shown with their event.

    Raises:
        InvalidPatternError: a consumer pattern is not a valid subscription pattern.
    """
    ordered = sorted(entries, key=lambda e: e.routing_key)
    keys = {e.routing_key for e in ordered}
    findings: dict[str, list[Mapping[str, Any]]] = {}
    for finding in compat_history or ():
        findings.setdefault(str(finding.get("event", "")), []).append(finding)
    events = sum(1 for e in ordered if e.kind == "event")
    summary = f"{len(ordered)} entries: {events} events, {len(ordered) - events} rpc topics"
    toc = "\n".join(_toc_item(e) for e in ordered)
    sections = "\n".join(
        _section(e, consumers, producers, findings.get(e.routing_key, []) if compat_history is not None else None)
        for e in ordered
    )
    other = {k: v for k, v in findings.items() if k not in keys}
    if other:
        toc += '\n<li><a href="#compat-other">Findings for other events</a></li>'
        sections += "\n" + _other_findings(other)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src '{_digest(_CSS)}'; \
script-src '{_digest(_JS)}'; base-uri 'none'; form-action 'none'">
<meta name="generator" content="python -m codegen.catalog_page">
<title>{_e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header class="top">
<h1>{_e(title)}</h1>
<p class="summary">{_e(summary)}</p>
<div class="search"><input id="search-box" type="search" aria-label="Search events" \
placeholder="Search keys, descriptions, fields" title="Press / to search" autocomplete="off" spellcheck="false">
<span id="search-count" aria-live="polite">{len(ordered)} of {len(ordered)} shown</span></div>
</header>
<div class="layout">
<nav class="toc" aria-label="Events">
<h2>Events</h2>
<ul>
{toc}
</ul>
</nav>
<main>
{sections}
<p id="no-match" hidden>No event matches the search.</p>
</main>
</div>
<script>{_JS}</script>
</body>
</html>
"""


def _toc_item(entry: CatalogEntry) -> str:
    key = _e(entry.routing_key)
    marks = f' <span class="badge {_e(entry.kind)}">{_e(entry.kind)}</span>' if entry.kind == "rpc" else ""
    if entry.deprecated:
        marks += ' <span class="badge deprecated">deprecated</span>'
    return f'<li data-key="{key}"><a href="#{key}">{key}</a>{marks}</li>'


def _section(
    entry: CatalogEntry,
    consumers: Services,
    producers: Services,
    findings: list[Mapping[str, Any]] | None,
) -> str:
    key = _e(entry.routing_key)
    rows = fields(entry.schema)
    response_rows = fields(entry.response) if entry.response is not None else []
    schema_description = _text(entry.schema.get("description"))
    searchable = [entry.routing_key, entry.kind, entry.description or "", schema_description, entry.owner or ""]
    searchable += [text for f in [*rows, *response_rows] for text in (f.name, f.type, f.description)]
    badges = [f'<span class="badge {_e(entry.kind)}">{_e(entry.kind)}</span>']
    if entry.version is not None:
        badges.append(f'<span class="badge version">v{_e(entry.version)}</span>')
    if entry.deprecated:
        badges.append('<span class="badge deprecated">deprecated</span>')
    parts = [
        f'<section class="event" id="{key}" data-search="{_e(" ".join(searchable).lower())}">',
        f'<header><h2><a href="#{key}">{key}</a></h2>{"".join(badges)}</header>',
    ]
    if entry.description:
        parts.append(f'<p class="desc">{_e(entry.description)}</p>')
    if schema_description and schema_description != entry.description:
        parts.append(f'<p class="desc">{_e(schema_description)}</p>')
    parts.append(_meta(entry, consumers, producers))
    parts.append("<h3>Fields</h3>" if entry.kind == "event" else "<h3>Request fields</h3>")
    parts.append(_fields_table(rows))
    if entry.response is not None:
        parts.append("<h3>Response fields</h3>")
        parts.append(_fields_table(response_rows))
    if entry.examples:
        parts.append("<h3>Examples</h3>" if len(entry.examples) > 1 else "<h3>Example</h3>")
        parts += [
            f'<pre class="example"><code>{_e(json.dumps(ex, indent=2, ensure_ascii=False))}</code></pre>'
            for ex in entry.examples
        ]
    if findings is not None:
        parts.append("<h3>Compatibility history</h3>")
        parts.append(_findings_table(findings))
    parts.append("</section>")
    return "\n".join(parts)


def _meta(entry: CatalogEntry, consumers: Services, producers: Services) -> str:
    who = roles(entry, consumers, producers)
    rpc = entry.kind == "rpc"
    senders = ", ".join(f'<span class="svc">{_e(s)}</span>' for s in who.senders)
    receivers = []
    for service, patterns in who.receivers.items():
        via = ", ".join(f"<code>{_e(p)}</code>" for p in patterns) if patterns else "owner"
        receivers.append(f'<span class="svc">{_e(service)}</span> <span class="via">({via})</span>')
    none = '<span class="none">none known</span>'
    if rpc:
        route = f"queue <code>{_e(RPC_QUEUE_PREFIX + entry.routing_key)}</code> on the default exchange"
    else:
        route = (
            f"exchange <code>{_e(EXCHANGE_NAME)}</code>, routing key <code>{_e(entry.routing_key)}</code>; "
            f"each receiver reads its own queue <code>&lt;service&gt;{_e(SERVICE_QUEUE_SUFFIX)}</code>"
        )
    rows = [
        (
            "Owner",
            f'<span class="svc">{_e(entry.owner)}</span>' if entry.owner else '<span class="none">not set</span>',
        ),
        ("Kind", "rpc topic (request and reply)" if rpc else "event"),
        ("Version", _e(entry.version) if entry.version is not None else '<span class="none">not set</span>'),
        ("Status", "deprecated" if entry.deprecated else "current"),
        ("Called by" if rpc else "Published by", senders or none),
        ("Answered by" if rpc else "Consumed by", ", ".join(receivers) or none),
        ("Route", route),
        ("Schema", f"<code>{_e(entry.source)}</code>"),
    ]
    body = "\n".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
    return f'<dl class="meta">\n{body}\n</dl>'


def _fields_table(rows: list[Field]) -> str:
    if not rows:
        return '<p class="none">No fields.</p>'
    body = "\n".join(
        "<tr>"
        f'<td class="name">{_e(f.name)}</td>'
        f'<td class="type">{_e(f.type)}</td>'
        f'<td class="req">{"yes" if f.required else "no"}</td>'
        f"<td>{_chips(f.constraints)}</td>"
        f"<td>{_e(f.description)}</td>"
        "</tr>"
        for f in rows
    )
    cols = "".join(f'<col class="{c}">' for c in ("name", "type", "req", "constraints", "description"))
    head = "<tr><th>Field</th><th>Type</th><th>Required</th><th>Constraints</th><th>Description</th></tr>"
    return (
        f'<table class="fields">\n<colgroup>{cols}</colgroup>\n<thead>{head}</thead>\n<tbody>\n{body}\n</tbody>\n'
        "</table>"
    )


def _chips(constraints: Sequence[str]) -> str:
    return " ".join(f'<span class="constraint">{_e(c)}</span>' for c in constraints)


def _allowed_cell(finding: Mapping[str, Any]) -> str:
    allowed = finding.get("allowed")
    status = finding.get("status")
    reason = finding.get("allowed_by")
    if allowed is None and isinstance(status, str):  # the shape python -m codegen compat --json writes
        allowed = status != "breaking"
    if isinstance(allowed, str):  # a reason counts as allowed
        allowed, reason = True, reason or allowed
    text = (status if isinstance(status, str) else "yes") if allowed else "no"
    css = "allowed" if allowed else "breaking"
    why = f' <span class="via">({_e(reason)})</span>' if allowed and reason else ""
    return f'<span class="{css}">{_e(text)}</span>{why}'


def _finding_row(finding: Mapping[str, Any], *, with_event: bool) -> str:
    directions = finding.get("directions", finding.get("breaks"))
    if isinstance(directions, list | tuple):
        directions = ", ".join(str(d) for d in directions)
    rule = _e(finding.get("rule", ""))
    if isinstance(finding.get("message"), str):
        rule += f' <br><span class="via">{_e(finding["message"])}</span>'
    cells = [
        rule,
        f"<code>{_e(finding['pointer'])}</code>" if finding.get("pointer") else "",
        f"<code>{_e(_json(finding['old']))}</code>" if finding.get("old") is not None else "",
        f"<code>{_e(_json(finding['new']))}</code>" if finding.get("new") is not None else "",
        _e(directions) if directions else "",
        _allowed_cell(finding),
    ]
    if with_event:
        cells.insert(0, f"<code>{_e(finding.get('event', ''))}</code>")
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _findings_table(findings: Sequence[Mapping[str, Any]], *, with_event: bool = False) -> str:
    if not findings:
        return '<p class="none">No findings.</p>'
    names = ["Rule", "Pointer", "Old", "New", "Directions", "Allowed"]
    if with_event:
        names.insert(0, "Event")
    head = "".join(f"<th>{name}</th>" for name in names)
    body = "\n".join(_finding_row(f, with_event=with_event) for f in findings)
    return f'<table class="compat">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>'


def _other_findings(findings: Mapping[str, list[Mapping[str, Any]]]) -> str:
    rows = [f for key in sorted(findings) for f in findings[key]]
    return (
        '<section class="other" id="compat-other">\n<header><h2>Findings for other events</h2></header>\n'
        '<p class="desc">Compatibility findings for routing keys the catalog no longer has.</p>\n'
        f"{_findings_table(rows, with_event=True)}\n</section>"
    )


# -- command line ----------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m codegen.catalog_page",
        description="Render the event catalog as one self-contained HTML page.",
    )
    add_catalog_arguments(parser)
    parser.add_argument("--out", default="catalog.html", type=Path, help="file to write (default: catalog.html)")
    parser.add_argument("--title", default=DEFAULT_TITLE, help=f"page title (default: {DEFAULT_TITLE!r})")
    parser.add_argument("--compat", type=Path, help="a JSON file with a list of compatibility findings to show")
    return parser


def _read_findings(path: Path) -> list[Mapping[str, Any]]:
    """The findings of ``python -m codegen compat --json`` output, or of a plain JSON list of them."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and "findings" in data:
        data = data["findings"]
    if not isinstance(data, list) or not all(isinstance(f, dict) for f in data):
        raise ValueError(
            "must hold the output of python -m codegen compat --json, or a JSON list of findings (objects with "
            "event, pointer, rule, old, new, ...)"
        )
    return data


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    findings = None
    if args.compat is not None:
        try:
            findings = _read_findings(args.compat)
        except (OSError, ValueError) as exc:
            sys.stderr.write(f"error: --compat {args.compat}: {exc}\n")
            return 1
    try:
        entries = load_catalog(args.schemas, label=args.schemas.resolve().name or "schemas")
        consumers, producers = services_of(args, entries)
        page = render(entries, consumers=consumers, producers=producers, compat_history=findings, title=args.title)
    except TchuError as exc:  # CatalogError, InvalidPatternError: one line each, no traceback
        sys.stderr.write(f"error: {exc}\n")
        return 1
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    sys.stdout.write(f"wrote {out}: {len(entries)} catalog entries\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
