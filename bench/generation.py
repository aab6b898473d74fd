"""Code generation time for synthetic catalogs of growing size, in fresh processes as CI runs it.

    python -m bench.generation [--sizes 10,100,500] [--cap SECONDS]

For each size, a catalog of that many generated event schemas is written to a temporary folder (events and rpc
topics, formats, enums, nullable fields, arrays, nested objects, maps and ``$ref`` to shared ``_defs``), then
timed, each command in a subprocess: ``python -m codegen lint`` (reading and checking the catalog: the floor a
generator cannot go below), ``python -m codegen --schemas S --out O`` and ``python -m codegen --check``.
With ``--cap``, a command still running after that many seconds is stopped and reported as taking at least the
cap (``>``), so a slow generator cannot stretch a benchmark run without bound. Prints a table (seconds) and one
JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.runtime import ROOT

LINT = "python -m codegen lint"
GENERATE = "python -m codegen"
CHECK = "python -m codegen --check"
DOMAINS = ("billing", "catalog", "crm", "fleet", "hr", "inventory", "ledger", "orders", "search", "users")
VERBS = ("created", "updated", "deleted", "archived")
RPC_EVERY = 5  # one schema in five is an rpc topic

MONEY = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Money",
    "type": "object",
    "properties": {
        "amount": {"type": "number", "minimum": 0},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    },
    "required": ["amount", "currency"],
    "additionalProperties": False,
}
ADDRESS = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Address",
    "type": "object",
    "properties": {
        "street": {"type": "string", "maxLength": 200},
        "city": {"type": "string"},
        "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
    },
    "required": ["city", "country"],
    "additionalProperties": False,
}

# (property, schema, example value): each generated event takes a different selection
FIELDS: list[tuple[str, dict[str, Any], Any]] = [
    ("email", {"type": "string", "format": "email"}, "ada@example.com"),
    ("name", {"type": "string", "minLength": 1, "maxLength": 200}, "Ada"),
    ("status", {"enum": ["new", "active", "closed"]}, "new"),
    ("amount", {"$ref": "_defs/money.json"}, {"amount": 9.5, "currency": "EUR"}),
    ("address", {"$ref": "_defs/address.json"}, {"city": "Paris", "country": "FR"}),
    ("tags", {"type": "array", "items": {"type": "string"}, "maxItems": 20}, ["a"]),
    ("note", {"type": ["string", "null"], "maxLength": 500}, None),
    ("occurred_at", {"type": "string", "format": "date-time"}, "2026-01-05T09:30:00+00:00"),
    ("score", {"type": "number", "minimum": 0, "maximum": 100}, 42.0),
    ("count", {"type": "integer", "minimum": 0}, 3),
    ("active", {"type": "boolean"}, True),
    ("flags", {"type": "object", "additionalProperties": {"type": "boolean"}}, {"beta": True}),
    (
        "lines",
        {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}},
                "required": ["sku", "quantity"],
                "additionalProperties": False,
            },
        },
        [{"sku": "A-1", "quantity": 2}],
    ),
    ("reference", {"type": "string", "format": "uuid"}, "9b2f4c1e-2d1a-4a53-9a52-0f6d0b2c7e11"),
]


def _title(key: str) -> str:
    return "".join(word.capitalize() for part in key.split(".") for word in part.split("_"))


def write_catalog(folder: Path, size: int) -> None:
    """Write ``size`` event schemas (every fifth an rpc topic with a reply schema) and their shared ``_defs``."""
    (folder / "_defs").mkdir(parents=True)
    (folder / "_defs" / "money.json").write_text(json.dumps(MONEY, indent=2))
    (folder / "_defs" / "address.json").write_text(json.dumps(ADDRESS, indent=2))
    for i in range(size):
        key = f"{DOMAINS[i % len(DOMAINS)]}.entity{i}.{VERBS[i % len(VERBS)]}"
        chosen = [FIELDS[(i + step * 3) % len(FIELDS)] for step in range(4 + i % 5)]
        chosen = list({name: (name, schema, example) for name, schema, example in chosen}.values())
        required = ["id", *(name for name, _, _ in chosen[:2])]
        example = {"id": i + 1, **{name: value for name, _, value in chosen[:2]}}
        schema: dict[str, Any] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": _title(key),
            "description": f"Synthetic event {i} of a catalog of {size}.",
            "type": "object",
            "properties": {"id": {"type": "integer", "minimum": 1}, **{n: s for n, s, _ in chosen}},
            "required": required,
            "additionalProperties": False,
            "examples": [example],
            "x-tchu": {"owner": DOMAINS[i % len(DOMAINS)], "version": 1 + i % 3},
        }
        if i % RPC_EVERY == RPC_EVERY - 1:
            schema["x-tchu"]["kind"] = "rpc"
            schema["x-tchu"]["response"] = {
                "type": "object",
                "properties": {"ok": {"type": "boolean"}, "reason": {"type": ["string", "null"]}},
                "required": ["ok"],
                "additionalProperties": False,
            }
        (folder / f"{key}.json").write_text(json.dumps(schema, indent=2))


@dataclass
class Timing:
    """Seconds per command; ``capped`` names the commands stopped at the cap (their time is a lower bound)."""

    seconds: dict[str, float] = field(default_factory=dict)
    capped: list[str] = field(default_factory=list)


def _timed(cmd: list[str], cap: float | None, *, allowed: tuple[int, ...] = (0,)) -> tuple[float, bool]:
    """Wall seconds of ``cmd`` and whether it was stopped at ``cap``."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, timeout=cap)  # noqa: S603
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, True
    elapsed = time.perf_counter() - start
    if proc.returncode not in allowed:
        output = proc.stdout[-2000:] + proc.stderr[-2000:]
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{output}")
    return elapsed, False


def measure(size: int, *, cap: float | None = None) -> Timing:
    """Seconds of lint, generation and ``--check`` for a synthetic catalog of ``size`` schemas.

    A command still running after ``cap`` seconds is stopped and named in ``Timing.capped``. When generation was
    stopped, ``--check`` runs against its partial output: it regenerates all the same, then reports differences.
    """
    timing = Timing()
    with tempfile.TemporaryDirectory(prefix="tchu-bench-codegen-") as tmp:
        schemas = Path(tmp) / "schemas"
        out = Path(tmp) / "out" / "bench_events"
        write_catalog(schemas, size)
        codegen = [sys.executable, "-m", "codegen"]
        commands = {
            LINT: [*codegen, "lint", "--schemas", str(schemas)],
            GENERATE: [*codegen, "--schemas", str(schemas), "--out", str(out)],
            CHECK: [*codegen, "--schemas", str(schemas), "--out", str(out), "--check"],
        }
        for name, cmd in commands.items():
            allowed = (0, 1) if name == CHECK and GENERATE in timing.capped else (0,)
            seconds, capped = _timed(cmd, cap, allowed=allowed)
            timing.seconds[name] = seconds
            if capped:
                timing.capped.append(name)
    return timing


def main(argv: list[str] | None = None) -> int:
    """Run the measurement; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,500", help="comma-separated catalog sizes (default 10,100,500)")
    parser.add_argument("--cap", type=float, help="stop a command after this many seconds (reported as '>')")
    args = parser.parse_args(argv)
    results = {int(size): measure(int(size), cap=args.cap) for size in args.sizes.split(",")}
    print(f"{'schemas':>7} {'command':28} {'seconds':>8} {'x lint':>7}")
    for size, timing in results.items():
        for name, seconds in timing.seconds.items():
            shown = f"{'>' if name in timing.capped else ''}{seconds:.2f}"
            print(f"{size:7d} {name:28} {shown:>8} {seconds / timing.seconds[LINT]:7.1f}")
    out = {size: {"seconds": t.seconds, "capped": t.capped} for size, t in results.items()}
    print(json.dumps({"figure": "codegen_seconds", "results": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
