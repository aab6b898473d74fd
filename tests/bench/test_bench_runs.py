"""The benchmarks run (quick or tiny mode): they print a table and end with one JSON line. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

RAW, CELERY, LEGACY, TCHU = "raw kombu", "celery task", "tchu-tchu 2.2.3", "tchu"
COMPARED = [RAW, CELERY, LEGACY, TCHU]
# figures every implementation has a value for, each with its real workers or publisher
BROKER_FIGURES = [
    "publish_no_confirm",
    "publish_confirm",
    "e2e_p50",
    "e2e_p99",
    "worker_solo",
    "worker_prefork",
    "worker_cpu_solo",
    "worker_cpu_prefork",
    "wire_bytes",
    "rpc_p50",
    "rpc_runs",
]
FIGURES = {*BROKER_FIGURES, "publish_pipelined", "validation", "codegen_10", "codegen_100", "codegen_500"}
CODEGEN = ["python -m codegen lint", "python -m codegen", "python -m codegen --check"]


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
    assert set(result["results"]["wire_bytes"]) == {"raw kombu", "wire format floor", "tchu (body + headers)"}
    assert set(result["results"]["publish_no_confirm"]) == {
        "raw kombu",
        "tchu publish",
        "tchu batch, confirmed",
        "celery send_task",
    }
    assert all(v > 0 for rows in result["results"].values() for v in rows.values())


@pytest.mark.integration
@pytest.mark.timeout(900)  # the first run builds the tchu-tchu 2.2.3 virtualenv with pip
def test_combined_bench_measures_every_figure_of_every_implementation(tmp_path):
    report = tmp_path / "bench.json"
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--tiny", "--json", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=800,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0].split() == ["figure", "implementation", "value", "unit", "x", "floor", "target"]
    result = json.loads(report.read_text())
    assert json.loads(lines[-1]) == result  # the file and stdout's last line are the same report
    assert result["mode"] == "tiny"

    figures = result["figures"]
    assert set(figures) == FIGURES
    for key, figure in figures.items():
        assert all(value > 0 for value in figure["values"].values()), (key, figure["values"])
        assert figure["floor"] in figure["values"] or not figure["values"], key
    for key in BROKER_FIGURES:
        extra = {"2.2.3 wire format, least"} if key == "wire_bytes" else set()  # the format's own floor
        assert set(figures[key]["values"]) == {*COMPARED, *extra}, key
    assert set(figures["publish_pipelined"]["values"]) == {
        "raw kombu, no confirms",
        "raw kombu, pipelined confirms",
        TCHU,
    }
    assert set(figures["publish_pipelined"]["not_measured"]) == {CELERY, LEGACY}
    assert {TCHU, "jsonschema-rs is_valid"} <= set(figures["validation"]["values"])
    assert set(figures["codegen_10"]["values"]) == set(CODEGEN)
    # every call ran its handler exactly once, for tchu and for each comparison
    assert figures["rpc_runs"]["values"] == dict.fromkeys(COMPARED, 1.0)

    table = lines[1:-2]
    for figure in figures.values():
        rows = [line for line in table if line.startswith(figure["title"])]
        shown = {*figure["values"], *figure["not_measured"]}
        assert len(rows) == len(shown), figure["title"]
        for name in shown:
            assert any(line[len(figure["title"]) :].lstrip().startswith(name) for line in rows), (figure["title"], name)
    tchu_rows = [line for line in table if " tchu " in line and ("pass " in line or "MISS " in line)]
    assert len(tchu_rows) >= 10, table  # tchu's rows carry the targets' verdicts
    assert {t["figure"] for t in result["targets"]} >= {"publish_no_confirm", "e2e_p99", "rpc_runs", "codegen_500"}

    # the run left nothing behind
    assert result["cleanup"]["vhost_left"] is False
    assert result["cleanup"]["redis_keys"] == 0


@pytest.mark.integration
def test_a_run_removes_what_a_killed_run_left():
    import redis  # noqa: PLC0415 -- only this test needs it

    from bench.runtime import OWNER, Run  # noqa: PLC0415

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    with Run() as killed_earlier:  # stands for a run whose process was killed: its folder names a pid now gone
        (killed_earlier.dir / OWNER).write_text(dead.stdout.decode().strip())
        killed_earlier.closed = True  # so it does not clean up after itself
    killed_earlier.api.create_vhost(killed_earlier.vhost)
    client = redis.Redis.from_url(killed_earlier.redis_url)
    client.set(killed_earlier.redis_prefix + "left", "1")
    try:
        with Run() as run:
            assert run.vhost != killed_earlier.vhost
        assert killed_earlier.leftovers() == {
            "vhost": killed_earlier.vhost,
            "vhost_left": False,
            "redis_prefix": killed_earlier.redis_prefix,
            "redis_keys": 0,
        }
        assert not killed_earlier.dir.exists()
    finally:
        client.close()
        killed_earlier.closed = False
        killed_earlier.close()
