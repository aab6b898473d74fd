"""The benchmarks run (quick mode): they print a table and end with one JSON line. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_validation_bench_prints_a_table_and_json():
    out = subprocess.run(
        [sys.executable, "-m", "bench.validation", "--quick"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["validator", "us/event"]
    result = json.loads(lines[-1])
    assert result["figure"] == "validation_us_per_event"
    assert set(result["results"]) >= {"tchu EventSchema.validate (jsonschema-rs)", "jsonschema (Python)"}
    assert all(v > 0 for v in result["results"].values())


def test_publish_bench_prints_a_table_and_json():
    out = subprocess.run(
        [sys.executable, "-m", "bench.publish", "--quick", "--events", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].split() == ["figure", "implementation", "value", "x", "floor"]
    result = json.loads(lines[-1])
    assert set(result["results"]) == {"publish_no_confirm", "publish_confirm", "wire_bytes"}
    assert set(result["results"]["publish_no_confirm"]) == {
        "raw kombu",
        "tchu publish",
        "tchu batch, confirmed",
        "celery send_task",
    }
    assert all(v > 0 for rows in result["results"].values() for v in rows.values())
