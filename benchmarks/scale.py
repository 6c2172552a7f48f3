"""Flat cost at scale: does a study of 100,000 trials answer Suggest and Report as fast as a
fresh study of the same spec?

Run it from the repository root, with hpo's virtual environment active:

    python -m benchmarks.scale                         # SQLite and PostgreSQL, 100,000 trials
    python -m benchmarks.scale --stores sqlite --trials 20000 --reports 60000 --loops 200

Per store (a SQLite file in a temporary directory; a fresh PostgreSQL database, dropped
afterwards):

1. **Generate** the dashboard benchmark's study (:func:`benchmarks.dashboard.generate`: a
   gp-hyperband study with trials in every bracket and state, curves, proposals) at
   ``--trials`` trials and ``--reports`` reports, straight into the tables; then create a
   fresh study of the same spec through the coordinator.
2. **Serve** them with ``hpo serve`` and run one client that loops suggest -> report at the
   assigned resource -> complete, ``--loops`` times on each study, after ``--warmup``
   untimed loops (the first call on the big study reads its 100,000 trials into the cache).
   The big study and the fresh one alternate every ``--block`` loops, so that a change in the
   machine's load (the coordinator's background fits, other processes) hits both alike.
3. **Report** the p50 and p99 latency of suggest and report on each study and their ratio.
   The goal (issue 16): the big study within 1.5x of the fresh one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks import dashboard
from benchmarks.harness import (
    Latency,
    coordinator,
    ms,
    postgres_database,
    postgres_reachable,
    sqlite_database,
    store_list,
)
from hpo import Client
from hpo.client import Study
from hpo.storage import create_engine
from hpo.storage.migrate import upgrade

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
GOAL_RATIO = 1.5
FRESH = "fresh"


@dataclass
class Timings:
    suggest: list[float]
    report: list[float]


def run_loops(study: Study, loops: int, timings: Timings | None) -> None:
    """``loops`` suggest -> report -> complete loops on ``study``; their latencies go to
    ``timings`` (None: untimed warm-up)."""
    for _ in range(loops):
        started = time.perf_counter()
        trial = study.suggest()
        suggested = time.perf_counter()
        if trial is None:
            raise RuntimeError(f"study {study.name} handed out no trial")
        trial.report(trial.resource, 0.5, hold=True)  # the report alone is timed
        reported = time.perf_counter()
        trial.complete()
        if timings is not None:
            timings.suggest.append(suggested - started)
            timings.report.append(reported - suggested)


def measure(address: str, loops: int, warmup: int, block: int) -> dict[str, Timings]:
    timings = {dashboard.STUDY: Timings([], []), FRESH: Timings([], [])}
    with Client(address, worker_id=f"scale-{uuid.uuid4().hex[:8]}") as client:
        studies = {name: client.get_study(name) for name in timings}
        for study in studies.values():
            run_loops(study, warmup, None)
        done = 0
        while done < loops:
            step = min(block, loops - done)
            for name, study_timings in timings.items():
                run_loops(studies[name], step, study_timings)
            done += step
    return timings


def run_store(url: str, args: argparse.Namespace, log: Path, console: Console) -> dict[str, Any]:
    engine = create_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    counts = dashboard.generate(engine, trials=args.trials, reports=args.reports)
    generated = time.perf_counter() - started
    engine.dispose()
    console.print(f"  generated {counts} in {generated:.0f} s")
    with coordinator(url, log, console) as address:
        with Client(address) as client:
            spec = dashboard.SPEC.to_json()
            client.create_study_from_spec(type(dashboard.SPEC).from_json({**spec, "name": FRESH}))
        timings = measure(address, args.loops, args.warmup, args.block)
    return {
        "counts": counts,
        "generate_seconds": generated,
        "latency": {
            study: {"suggest": Latency.of(t.suggest), "report": Latency.of(t.report)}
            for study, t in timings.items()
        },
    }


def report(store: str, result: dict[str, Any], console: Console) -> bool:
    latency = result["latency"]
    table = Table(title=f"{store}: one client, ms")
    for column in ("call", "fresh p50", "big p50", "ratio", "fresh p99", "big p99"):
        table.add_column(column, justify="right")
    passed = True
    for call in ("suggest", "report"):
        fresh, big = latency[FRESH][call], latency[dashboard.STUDY][call]
        ratio = big.p50 / fresh.p50
        passed &= ratio <= GOAL_RATIO
        table.add_row(call, ms(fresh.p50), ms(big.p50), f"{ratio:.2f}x", ms(fresh.p99), ms(big.p99))
    console.print(table)
    verdict = "PASS" if passed else "FAIL"
    console.print(f"{verdict}  big study within {GOAL_RATIO}x of a fresh one (p50, {store})")
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=store_list, default=["sqlite", "postgres"])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--reports", type=int, default=300_000)
    parser.add_argument("--loops", type=int, default=300, help="timed loops per study")
    parser.add_argument("--warmup", type=int, default=20, help="untimed loops per study")
    parser.add_argument("--block", type=int, default=25, help="loops per study in a row")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="admin connection URL")
    args = parser.parse_args(argv)
    console = Console()
    passed = True
    with tempfile.TemporaryDirectory(prefix="hpo-scale-") as directory:
        for store in args.stores:
            console.print(f"[bold]{store}[/]: {args.trials:,} trials, {args.reports:,} reports")
            if store == "postgres" and (why := postgres_reachable(args.postgres)) is not None:
                console.print(f"  skipped: PostgreSQL does not answer ({why})")
                continue
            database = (
                sqlite_database(Path(directory), "scale")
                if store == "sqlite"
                else postgres_database(args.postgres, "scale")
            )
            with database as url:
                result = run_store(url, args, Path(directory) / f"{store}.log", console)
            passed &= report(store, result, console)
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
