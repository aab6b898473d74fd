"""Cost of validating one event, per validator library, measured side by side in one run.

    python -m bench.validation [--quick]

Validates the example ``user.created`` payload (formats included) with: jsonschema-rs (what tchu uses),
fastjsonschema, jsonschema (Python), and the generated Pydantic model; and runs tchu's own ``EventSchema`` check.
Prints a table (microseconds per event, and the ratio to the fastest) and writes JSON to stdout's last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from tchu.catalog_files import load_catalog

ROUNDS = 5
TCHU = "tchu EventSchema.validate (jsonschema-rs)"
FLOOR = "jsonschema-rs is_valid"


def _time(fn: Callable[[], object], n: int) -> float:
    """Median over ROUNDS of the microseconds one call takes."""
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(samples)


def measure(n: int) -> dict[str, float]:
    """Microseconds per validation of the catalog's ``user.created`` example, per validator (``n`` calls a round)."""
    entry = next(e for e in load_catalog("schemas") if e.routing_key == "user.created")
    payload: dict[str, Any] = dict(entry.examples[0])
    schema = entry.schema

    import fastjsonschema  # noqa: PLC0415 -- optional comparison libraries, imported only here
    import jsonschema  # noqa: PLC0415
    import jsonschema_rs  # noqa: PLC0415

    from generated import UserCreated  # noqa: PLC0415

    rs = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
    fast = fastjsonschema.compile(schema)
    py = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    tchu_entry = entry.event_schema()
    return {
        TCHU: _time(lambda: tchu_entry.validate(payload), n),
        FLOOR: _time(lambda: rs.is_valid(payload), n),
        "fastjsonschema": _time(lambda: fast(payload), n),
        "pydantic model_validate (generated model)": _time(lambda: UserCreated.model_validate(payload), n),
        "jsonschema (Python)": _time(lambda: py.validate(payload), max(n // 10, 200)),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the measurement; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (seconds, not minutes)")
    args = parser.parse_args(argv)
    rows = measure(2_000 if args.quick else 20_000)
    floor = min(rows.values())
    print(f"{'validator':46} {'us/event':>9} {'x fastest':>9}")
    for name, us in rows.items():
        print(f"{name:46} {us:9.2f} {us / floor:9.1f}")
    print(json.dumps({"figure": "validation_us_per_event", "event": "user.created", "results": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
