"""Every benchmark figure of tchu in one run, beside its comparisons, checked against the project's targets.

    python -m bench [--quick | --full | --tiny] [--json FILE]

Needs RabbitMQ (with the management API) and Redis on 127.0.0.1 (``scripts/services.sh`` starts both) and
builds or reuses the tchu-tchu 2.2.3 virtualenv (see :mod:`bench.legacy`). The run gets a virtual host and a
Redis key prefix of its own and starts its workers as subprocesses; all are removed when it ends, however it
ends. On a 2-core machine ``--full`` (the default) takes about 6 minutes, ``--quick`` under 2 (codegen up to
100 schemas only) and ``--tiny``, for the test suite, under a minute (its figures mean nothing). A codegen
command still running after 60 s (30 s with ``--quick``) is stopped and shown as taking more than that.

Each figure is measured for tchu and, in the same run, for its comparisons: the raw kombu floor, a plain Celery
task on the same pool, and tchu-tchu 2.2.3 (its publisher and its workers running in its own virtualenv).
Prints one table (figure, implementation, value, unit, ratio to the figure's floor, target) and one JSON line;
``--json FILE`` writes the same JSON to a file. Progress goes to stderr.

1. publish, no confirms (events/s)                 6. bytes on the wire of the 254-byte payload
2. publish, confirm per event (events/s)           7. validation (us/event)
3. confirms pipelined: a tchu batch (events/s)     8. RPC round trip p50 (ms), handler runs per call
4. end-to-end latency at 200 events/s to two       9. codegen for synthetic catalogs of 10, 100, 500
   services, p50 and p99 (ms)                         schemas, generation and --check (s)
5. one worker's throughput from a pre-filled queue, solo pool and prefork concurrency 1 (events/s), and the
   worker's CPU time per event (us/event)

Figure 6 also measures the least a message in tchu-tchu 2.2.3's wire format can be (only the ``task`` and ``id``
headers, the payload as a JSON string argument), checked against the same target as tchu's: it shows how much
of the target any compatible message can meet.

See :mod:`bench.publish`, :mod:`bench.services`, :mod:`bench.validation` and :mod:`bench.generation` for how
each is measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kombu.exceptions import OperationalError

from bench import generation, publish, services, validation
from bench.legacy import TCHU_TCHU_223, LegacyVenvError, ensure_venv
from bench.payload import KEY, PAYLOAD
from bench.runtime import BenchError, Proc, Run, send_command
from bench.services import CELERY, LEGACY, RAW, TCHU, Counts

NO_CONFIRMS = "raw kombu, no confirms"
FORMAT_FLOOR = "2.2.3 wire format, least"
PIPELINED = "raw kombu, pipelined confirms"
VALIDATORS = {
    validation.FLOOR: "jsonschema-rs is_valid",
    "fastjsonschema": "fastjsonschema",
    "pydantic model_validate (generated model)": "pydantic (generated model)",
    "jsonschema (Python)": "jsonschema (Python)",
    validation.TCHU: TCHU,
}


@dataclass(frozen=True)
class Settings:
    """How much each part of a run does."""

    publish_events: int
    publish_rounds: int
    validation_calls: int
    counts: Counts
    codegen_sizes: tuple[int, ...]
    codegen_cap: float  # seconds after which a codegen command is stopped and reported as '>' that


MODES = {
    "tiny": Settings(20, 2, 200, Counts(40, 10, 40, 200.0, 10, warm_events=5, warm_calls=2), (10,), 60),
    "quick": Settings(600, 5, 2_000, Counts(1_000, 100, 600, 200.0, 100), (10, 100), 30),
    "full": Settings(2_000, 7, 20_000, Counts(4_000, 250, 3_000, 200.0, 500), (10, 100, 500), 60),
}
ALL_CODEGEN_SIZES = (10, 100, 500)


@dataclass
class Figure:
    """One figure: a value per implementation, ratios to the floor's value."""

    key: str
    title: str
    unit: str
    floor: str
    values: dict[str, float] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # implementation -> why it has no value
    details: dict[str, Any] = field(default_factory=dict)
    lower_bounds: list[str] = field(default_factory=list)  # rows whose value is "at least" (stopped at a cap)

    def rows(self) -> list[str]:
        """The floor, further reference rows, the comparisons, then tchu's rows."""
        rows = [row for row in dict.fromkeys([self.floor, *self.values, *self.missing]) if row in self.shown()]
        last = [CELERY, LEGACY, TCHU, generation.GENERATE, generation.CHECK]
        return [r for r in rows if r not in last] + [r for r in last if r in rows]

    def shown(self) -> set[str]:
        return {*self.values, *self.missing}

    def ratio(self, implementation: str) -> float | None:
        floor = self.values.get(self.floor)
        value = self.values.get(implementation)
        return None if floor is None or value is None or floor == 0 else value / floor


@dataclass(frozen=True)
class Target:
    """A target for one implementation's value: compared with another row's value (a ratio) or absolute."""

    figure: str
    implementation: str
    op: str  # ">=", "<=" or "=="
    bound: float
    versus: str | None = None  # the row the ratio is to; None: the value itself

    def text(self, unit: str) -> str:
        return f"{self.op} {self.bound:g}x {self.versus}" if self.versus else f"{self.op} {self.bound:g} {unit}"

    def check(self, figure: Figure) -> tuple[float, bool] | None:
        value = figure.values.get(self.implementation)
        if value is None or (self.versus is not None and self.versus not in figure.values):
            return None
        measured = value / figure.values[self.versus] if self.versus else value
        passed = {">=": measured >= self.bound, "<=": measured <= self.bound, "==": measured == self.bound}[self.op]
        return measured, passed


TARGETS = [
    Target("publish_no_confirm", TCHU, ">=", 0.6, RAW),
    Target("publish_no_confirm", TCHU, ">=", 2.0, LEGACY),
    Target("publish_confirm", TCHU, ">=", 0.9, RAW),
    Target("publish_pipelined", TCHU, ">=", 0.5, NO_CONFIRMS),
    Target("e2e_p50", TCHU, "<=", 1.1, CELERY),
    Target("e2e_p99", TCHU, "<=", 3.0),
    Target("worker_solo", TCHU, ">=", 0.9, CELERY),
    Target("worker_prefork", TCHU, ">=", 0.9, CELERY),
    Target("wire_bytes", TCHU, "<=", 1.5, RAW),
    Target("wire_bytes", FORMAT_FLOOR, "<=", 1.5, RAW),
    Target("validation", TCHU, "<=", 2.0),
    Target("rpc_p50", TCHU, "<=", 2.0),
    Target("rpc_runs", TCHU, "==", 1.0),
    Target("codegen_500", generation.GENERATE, "<=", 20.0),
    Target("codegen_500", generation.CHECK, "<=", 10.0),
]


def new_figures() -> dict[str, Figure]:
    figures = [
        Figure("publish_no_confirm", "1 publish, no confirms", "events/s", RAW),
        Figure("publish_confirm", "2 publish, confirm per event", "events/s", RAW),
        Figure("publish_pipelined", "3 confirms pipelined (batch)", "events/s", NO_CONFIRMS),
        Figure("e2e_p50", "4 e2e latency p50, 200/s, 2 svcs", "ms", RAW),
        Figure("e2e_p99", "4 e2e latency p99, 200/s, 2 svcs", "ms", RAW),
        Figure("worker_solo", "5 worker throughput, solo", "events/s", RAW),
        Figure("worker_prefork", "5 worker throughput, prefork c=1", "events/s", RAW),
        Figure("worker_cpu_solo", "5 worker CPU per event, solo", "us/event", RAW),
        Figure("worker_cpu_prefork", "5 worker CPU per event, prefork", "us/event", RAW),
        Figure("wire_bytes", "6 bytes on the wire, 254 B payload", "bytes", RAW),
        Figure("validation", "7 validation", "us/event", VALIDATORS[validation.FLOOR]),
        Figure("rpc_p50", "8 RPC round trip p50", "ms", RAW),
        Figure("rpc_runs", "8 RPC handler runs per call", "runs", RAW),
    ]
    figures += [
        Figure(f"codegen_{size}", f"9 codegen, {size} schemas", "s", generation.LINT) for size in ALL_CODEGEN_SIZES
    ]
    return {figure.key: figure for figure in figures}


class Progress:
    """Elapsed time and what is being measured, on stderr."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, what: str) -> None:
        print(f"[{self.elapsed():6.1f} s] {what}", file=sys.stderr, flush=True)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


# ------------------------------------------------------------------------------------------------ parts


def measure_publishing(run: Run, driver: Proc, settings: Settings, figures: dict[str, Figure]) -> None:
    """Figures 1, 2, 3 and 6: every publisher into one bound queue, in this process or tchu-tchu's driver.

    Within a figure the implementations' rounds are interleaved (see :func:`bench.publish.interleaved`). Figures
    without a confirm per event get three times the rounds: a round of the raw floor lasts milliseconds, and its
    rate jumps with the broker's flow control from one round to the next.
    """
    url, events = run.amqp_url, settings.publish_events
    publish.declare_sink(url)

    def legacy(confirm: bool) -> publish.Round:
        def round_(n: int) -> float:  # timed inside the driver, around its publish calls only
            command = {"op": "rate", "key": KEY, "payload": PAYLOAD, "events": n, "rounds": 1, "confirm": confirm}
            return float(send_command(driver, command)["rate"])

        return round_

    def empty_sink() -> None:
        publish.purge(url)

    rounds_of = {"publish_no_confirm": 3 * settings.publish_rounds, "publish_confirm": settings.publish_rounds}
    rounds_of["publish_pipelined"] = rounds_of["publish_no_confirm"]
    for confirm, key in ((False, "publish_no_confirm"), (True, "publish_confirm")):
        with ExitStack() as stack:
            publishers = {
                RAW: stack.enter_context(publish.raw(url, confirm=confirm)),
                CELERY: stack.enter_context(publish.celery(url, confirm=confirm)),
                LEGACY: legacy(confirm),
                TCHU: stack.enter_context(publish.tchu(url, confirm=confirm)),
            }
            figures[key].values.update(publish.interleaved(publishers, events, rounds_of[key], empty_sink))
    figures["publish_confirm"].details["confirms"] = "Celery's confirm_publish for celery task and tchu-tchu 2.2.3"

    pipelined = figures["publish_pipelined"]
    with ExitStack() as stack:
        publishers = {
            NO_CONFIRMS: stack.enter_context(publish.raw(url, confirm=False)),
            PIPELINED: stack.enter_context(publish.raw_pipelined(url)),
            TCHU: stack.enter_context(publish.tchu_batch(url)),
        }
        pipelined.values.update(publish.interleaved(publishers, events, rounds_of["publish_pipelined"], empty_sink))
    pipelined.missing[CELERY] = "n/a: Celery waits for each confirm"
    pipelined.missing[LEGACY] = "n/a: no batch publishing"
    # the broker's confirm path (fsync) moves both; tchu's share of the raw pipelined rate is its own overhead
    pipelined.details["tchu_vs_raw_pipelined_confirms"] = pipelined.values[TCHU] / pipelined.values[PIPELINED]

    wire = figures["wire_bytes"]
    measured = publish.wire_bytes(url)
    wire.values[RAW] = measured["raw kombu"]
    wire.values[FORMAT_FLOOR] = measured["wire format floor"]
    wire.values[CELERY] = measured["celery send_task"]
    fill = {"op": "fill", "key": KEY, "payload": PAYLOAD, "events": 1}
    wire.values[LEGACY] = publish.tapped_bytes(url, "tchu_events", KEY, lambda: send_command(driver, fill))
    wire.values[TCHU] = measured["tchu publish"]
    wire.details["counted"] = "body + encoded AMQP properties (headers included) of the delivered message"
    wire.details[FORMAT_FLOOR] = (
        "a task message with only the task and id headers, the payload as a JSON string argument and an empty "
        "embed: what no implementation of tchu-tchu 2.2.3's format can go below"
    )
    run.delete_queues(publish.SINK)
    for key, rounds in rounds_of.items():
        figures[key].details.update({"events_per_round": events, "rounds": rounds, "rounds_interleaved": True})


def measure_validation(settings: Settings, figures: dict[str, Figure]) -> None:
    """Figure 7, from :mod:`bench.validation`."""
    figure = figures["validation"]
    for name, us in validation.measure(settings.validation_calls).items():
        figure.values[VALIDATORS[name]] = us
    figure.missing[CELERY] = "n/a: no validation"
    figure.missing[LEGACY] = "n/a: no validation"
    figure.details["payload"] = "the catalog's user.created example, formats included"


def measure_services(
    run: Run,
    make: Callable[[Run], services.Implementation],
    settings: Settings,
    figures: dict[str, Figure],
    progress: Progress,
) -> None:
    """Figures 4, 5 and 8 for one implementation, with its real workers."""
    impl = make(run)
    try:
        found = services.measure(run, impl, settings.counts, progress)
    finally:
        impl.close()
    label = impl.label
    for pool in ("solo", "prefork"):
        drained = found.get(f"worker_{pool}", found["worker_solo"])  # raw kombu has no pool: its one process
        figures[f"worker_{pool}"].values[label] = drained["rate"]
        figures[f"worker_{pool}"].details[label] = {"stalled_chunks": drained["stalled"], "chunks": drained["chunks"]}
        figures[f"worker_cpu_{pool}"].values[label] = drained["cpu_us"]
    figures["e2e_p50"].values[label] = found["e2e"]["p50"]
    figures["e2e_p99"].values[label] = found["e2e"]["p99"]
    figures["e2e_p50"].details[label] = {"samples": found["e2e"]["samples"]}
    figures["rpc_p50"].values[label] = found["rpc"]["p50"]
    figures["rpc_runs"].values[label] = found["rpc"]["runs_per_call"]
    figures["rpc_runs"].details[label] = {"calls": found["rpc"]["calls"]}


def measure_codegen(settings: Settings, figures: dict[str, Figure], progress: Progress) -> None:
    """Figure 9, from :mod:`bench.generation`."""
    for size in ALL_CODEGEN_SIZES:
        figure = figures[f"codegen_{size}"]
        if size not in settings.codegen_sizes:
            figure.missing[generation.GENERATE] = "not measured in this mode (--full measures it)"
            continue
        progress(f"codegen, {size} schemas")
        timing = generation.measure(size, cap=settings.codegen_cap)
        figure.values.update(timing.seconds)
        figure.lower_bounds += timing.capped
        if timing.capped:
            figure.details["stopped_after_seconds"] = settings.codegen_cap


# ---------------------------------------------------------------------------------------------- output


def _format(value: float, unit: str) -> str:
    if unit in {"events/s", "bytes"} or value >= 100:  # noqa: PLR2004 -- three significant digits are plenty
        return f"{value:.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"  # noqa: PLR2004


def target_text(figure: Figure, implementation: str) -> str:
    out = []
    for target in TARGETS:
        if target.figure != figure.key or target.implementation != implementation:
            continue
        checked = target.check(figure)
        if checked is None:
            out.append(f"not measured: {target.text(figure.unit)}")
            continue
        measured, passed = checked
        shown = f"{measured:.2f}x" if target.versus else f"{_format(measured, figure.unit)} {figure.unit}"
        if target.implementation in figure.lower_bounds:
            shown = f"over {shown}"
        out.append(f"{'pass' if passed else 'MISS'} {target.text(figure.unit)}: {shown}")
    return "; ".join(out)


def table(figures: dict[str, Figure]) -> list[str]:
    lines = [f"{'figure':34} {'implementation':30} {'value':>9} {'unit':9} {'x floor':>7}  target"]
    for figure in figures.values():
        for row in figure.rows():
            if row in figure.values:
                value = (">" if row in figure.lower_bounds else "") + _format(figure.values[row], figure.unit)
                ratio = figure.ratio(row)
                shown_ratio = f"{ratio:7.2f}" if ratio is not None else f"{'':7}"
                target = target_text(figure, row)
            else:
                value, shown_ratio, target = "n/a", f"{'':7}", figure.missing[row]
            lines.append(f"{figure.title:34} {row:30} {value:>9} {figure.unit:9} {shown_ratio}  {target}".rstrip())
    return lines


def report(figures: dict[str, Figure], mode: str, wall: float, cleanup: dict[str, Any]) -> dict[str, Any]:
    targets = []
    for target in TARGETS:
        figure = figures[target.figure]
        checked = target.check(figure)
        targets.append(
            {
                "figure": target.figure,
                "implementation": target.implementation,
                "target": target.text(figure.unit),
                "measured": None if checked is None else checked[0],
                "passed": None if checked is None else checked[1],
            }
        )
    return {
        "bench": "tchu",
        "mode": mode,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "wall_seconds": round(wall, 1),
        "figures": {
            figure.key: {
                "title": figure.title,
                "unit": figure.unit,
                "floor": figure.floor,
                "values": figure.values,
                "ratios": {row: figure.ratio(row) for row in figure.values},
                "not_measured": figure.missing,
                "lower_bounds": figure.lower_bounds,
                "details": figure.details,
            }
            for figure in figures.values()
        },
        "targets": targets,
        "cleanup": cleanup,
    }


# ------------------------------------------------------------------------------------------------- main


def run_all(settings: Settings, progress: Progress) -> tuple[dict[str, Figure], dict[str, Any]]:
    """Every figure; the run's virtual host, Redis keys and processes are gone when this returns or raises."""
    figures = new_figures()
    progress(f"tchu-tchu {TCHU_TCHU_223.version} virtualenv")
    release = ensure_venv(TCHU_TCHU_223)
    with Run() as run:
        progress(f"vhost {run.vhost}, Redis prefix {run.redis_prefix}")
        driver = services.start_legacy_driver(run, release)
        progress("publishing (figures 1, 2, 3, 6)")
        measure_publishing(run, driver, settings, figures)
        progress("validation (figure 7)")
        measure_validation(settings, figures)
        # tchu-tchu 2.2.3 publishes with the result backend on, so its publisher subscribes to a Redis channel per
        # event and never leaves it: after the publishing rounds, its calls wait behind tens of thousands of them.
        # Its service figures get a fresh publisher, as every other implementation does.
        run.stop(driver)
        makers: list[tuple[str, Callable[[Run], services.Implementation]]] = [
            (RAW, services.RawKombu),
            (CELERY, services.PlainCelery),
            (TCHU, services.Tchu),
            (LEGACY, lambda r: services.Legacy(r, release, services.start_legacy_driver(r, release))),
        ]
        for label, make in makers:
            progress(f"workers of {label} (figures 4, 5, 8)")
            measure_services(run, make, settings, figures, progress)
    cleanup = run.leftovers()
    measure_codegen(settings, figures, progress)
    return figures, cleanup


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--full", dest="mode", action="store_const", const="full", help="every figure (minutes)")
    modes.add_argument("--quick", dest="mode", action="store_const", const="quick", help="under two minutes")
    modes.add_argument("--tiny", dest="mode", action="store_const", const="tiny", help="tiny counts, for tests")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the JSON report to FILE")
    args = parser.parse_args(argv)
    mode = args.mode or "full"
    progress = Progress()
    try:
        figures, cleanup = run_all(MODES[mode], progress)
    except (BenchError, LegacyVenvError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OperationalError as exc:  # the broker went away mid-run (restarted): nothing measured can be trusted
        print(f"error: lost the broker during the run ({exc}); run again", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: the run's workers, vhost and Redis keys are removed", file=sys.stderr)
        return 130
    wall = progress.elapsed()
    result = report(figures, mode, wall, cleanup)
    print("\n".join(table(figures)))
    left = "left behind" if cleanup["vhost_left"] or cleanup["redis_keys"] else "deleted"
    print(
        f"mode {mode}, wall time {wall:.1f} s; vhost {cleanup['vhost']} and Redis keys {cleanup['redis_prefix']}* "
        f"{left} ({cleanup['redis_keys']} keys left)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
