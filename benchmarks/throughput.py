"""Latency and throughput of the hpo coordinator, compared with Optuna's RDB storage.

Run it from the repository root, with hpo's virtual environment active:

    python -m benchmarks.throughput            # SQLite and PostgreSQL, 1/8/32 clients, 10 s a cell
    python -m benchmarks.throughput --quick    # smoke test: SQLite, 1 and 8 clients, 2 s a cell
    python -m benchmarks.throughput --stores sqlite --clients 1,4 --loops 200 --json results.json

What it measures, for each store (SQLite, PostgreSQL) and each number of clients:

* **hpo**: one ``hpo serve`` coordinator process per store. Every simulated worker has its
  own :class:`hpo.Client` (its own worker id) and loops ``suggest`` -> ``report`` at
  exactly the assigned resource -> ``complete`` on an ASHA study (r_min 1, r_max 27,
  eta 3, promotion-type, unlimited trials): one assignment per loop, as a real worker
  training one rung would do.
* **Optuna**: the same workers against ``optuna.storages.RDBStorage`` on a fresh database
  of the same kind, with a RandomSampler and a SuccessiveHalvingPruner (min_resource 1,
  reduction factor 3): ``ask`` + ``suggest_*`` (the "suggest" phase), ``report`` at step 1
  + ``should_prune`` (the "report" phase), ``tell`` (the "finish" phase).

Each cell uses a fresh study, warms every worker up with a few untimed loops, then runs
all workers at once for ``--seconds`` (or ``--loops`` loops each). The latency of every
call is recorded (failed calls included: a worker waited for them too), and every call
that raised counts as an error. Workers are spread over at most ``--processes`` spawned
processes, threads inside each, so that the clients do not share one GIL: on a 2-core
machine, clients in one Python process inflate each other's latency.

**GP suggest latency** (``--gp-reports``, default 500): on SQLite, a gp-hyperband study
(hpo's default algorithm) is first filled with that many reports by one worker; then 1 and 8
clients loop as above while the coordinator's model process refits in the background. The
table shows the latencies and the share of the new trials whose configuration came from the
model (the rest were sampled while no candidate was ready). Because loops take milliseconds
and a fit seconds, most timed suggestions take the random path; so the suggest latency is
also split by what the call handed out: a new trial the model chose, or anything else (a new
trial sampled at random, a promotion), with the count of each.

It prints, per store, p50/p99 latency of each phase, loops/s, RPCs/s and errors for both
systems, the Optuna/hpo ratios, and PASS/FAIL lines for the service goals. ``--json PATH``
also writes every figure as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import platform
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import optuna
import sqlalchemy
from rich.console import Console
from rich.table import Table

import hpo
from benchmarks.harness import (
    DEFAULT_POSTGRES,
    ETA,
    MIN_WIDTH,
    PHASES,
    R_MIN,
    SPACE,
    STORES,
    Latency,
    Samples,
    coordinator,
    create_hpo_study,
    fit_seconds,
    ms,
    objective,
    postgres_database,
    postgres_reachable,
    run_processes,
    run_threads,
    spread,
    sqlite_database,
    store_list,
)
from hpo import Client, Float, Int

# ---------------------------------------------------------------- the workload

# What an hpo suggest handed out, to split its latency by: a new trial whose configuration the
# GP chose, or anything else (a new trial sampled without the model, a promotion).
SUGGESTED = ("model", "other")
SYSTEMS = ("hpo", "optuna")
GOAL_SUGGEST_P50_MS = 5.0
GOAL_CLIENTS = 32
GOAL_GP_P50_MS = 150.0
GOAL_GP_P99_MS = 1000.0
GP_CLIENTS = (1, 8)


class SimulatedWorker(Protocol):
    """One worker of either system. A loop is ``suggest``, ``report``, ``finish`` in that
    order; the worker keeps its current trial between the calls, so the timing loop
    stays the same for both systems. ``suggest`` may return a label of what it handed out
    (:data:`SUGGESTED`); its latency is then also recorded under ``suggest (label)``."""

    def suggest(self) -> str | None: ...

    def report(self) -> None: ...

    def finish(self) -> None: ...

    def close(self) -> None: ...


class HpoWorker:
    """A worker with its own client (and worker id), training each assignment to
    exactly ``trial.resource`` in one report."""

    _trial: hpo.Trial  # set by suggest

    def __init__(self, address: str, study: str, worker_id: str) -> None:
        self._client = Client(address, worker_id=worker_id)
        self._study = self._client.get_study(study)

    def suggest(self) -> str:
        """Take the next assignment; "model" when it is a new trial the GP chose."""
        trial = self._study.suggest()
        if trial is None:
            raise RuntimeError("the study finished; the benchmark study has no trial budget")
        self._trial = trial
        new = trial.resume_from == 0
        return SUGGESTED[0] if new and trial.record.source == "model" else SUGGESTED[1]

    def report(self) -> None:
        resource = self._trial.resource
        # Held, so that the release stays in the "finish" phase it is timed in.
        self._trial.report(resource, objective(self._trial.config, resource), hold=True)

    def finish(self) -> None:
        self._trial.complete()

    def next_number(self) -> int:
        """The number the study's next new trial will get (after the last one seen)."""
        return self._trial.number + 1

    def close(self) -> None:
        self._client.close()


class OptunaWorker:
    """A worker with its own RDBStorage (its own connection pool), as a separate Optuna
    worker process would have. Each loop is one trial that reports once, at step
    r_min, where the SuccessiveHalvingPruner makes its first-rung decision."""

    # Set by suggest and report.
    _trial: optuna.Trial
    _value: float
    _pruned: bool

    def __init__(self, url: str, study: str) -> None:
        self._storage = optuna.storages.RDBStorage(url)
        self._study = optuna.load_study(
            study_name=study,
            storage=self._storage,
            sampler=optuna.samplers.RandomSampler(),
            pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=R_MIN, reduction_factor=ETA),
        )

    def suggest(self) -> None:
        self._trial = self._study.ask()
        self._value = objective(suggest_optuna_config(self._trial), R_MIN)

    def report(self) -> None:
        self._trial.report(self._value, R_MIN)
        self._pruned = self._trial.should_prune()

    def finish(self) -> None:
        if self._pruned:
            self._study.tell(self._trial, state=optuna.trial.TrialState.PRUNED)
        else:
            self._study.tell(self._trial, self._value)

    def close(self) -> None:
        self._storage.engine.dispose()


def suggest_optuna_config(trial: optuna.Trial) -> dict[str, Any]:
    """Sample :data:`SPACE` through Optuna's define-by-run API, so both systems search
    the very same space from one definition."""
    config: dict[str, Any] = {}
    for name, parameter in SPACE.items():
        if isinstance(parameter, Float):
            config[name] = trial.suggest_float(
                name, parameter.low, parameter.high, log=parameter.log
            )
        elif isinstance(parameter, Int):
            config[name] = trial.suggest_int(name, parameter.low, parameter.high, log=parameter.log)
        else:
            config[name] = trial.suggest_categorical(name, list(parameter.choices))
    return config


# ---------------------------------------------------------------- timing (shared)


def run_loops(worker: SimulatedWorker, samples: Samples, deadline: float, max_loops: int) -> None:
    """Loop until ``deadline`` (time.monotonic) or ``max_loops``, timing every call. A call
    that raises ends its loop: the next loop starts with a fresh suggest."""
    loops = 0
    while loops < max_loops and time.monotonic() < deadline:
        loops += 1
        for phase in PHASES:
            start = time.perf_counter()
            try:
                label = getattr(worker, phase)()
            except Exception as error:
                samples.errors[f"{phase}: {type(error).__name__}"] += 1
                break
            finally:
                samples.latencies[phase].append(time.perf_counter() - start)
            if label is not None:
                samples.latencies.setdefault(f"{phase} ({label})", []).append(
                    samples.latencies[phase][-1]
                )
        else:
            samples.loops += 1


@dataclass(frozen=True)
class CellTask:
    """What every worker process of one cell needs; picklable, for spawned processes."""

    system: str
    target: str  # the coordinator's address (hpo) or the storage URL (Optuna)
    study: str
    seconds: float
    loops: int | None
    warmup: int

    @contextmanager
    def prepare(self, index: int, threads: int) -> Iterator[Callable[[], ProcessResult]]:
        """Process ``index``'s workers, warmed up with untimed loops (a :class:`ProcessJob`)."""
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        workers: list[SimulatedWorker] = []
        try:
            for thread in range(threads):
                workers.append(make_worker(self, f"bench-{self.study}-p{index}-t{thread}"))
            for worker in workers:
                run_loops(worker, Samples(), math.inf, self.warmup)
            yield lambda: run_together(workers, self)
        finally:
            for worker in workers:
                worker.close()


@dataclass
class ProcessResult:
    """One worker process's samples and how long its timed run took."""

    samples: Samples
    elapsed: float


def make_worker(task: CellTask, worker_id: str) -> SimulatedWorker:
    """hpo workers need an id, so their trials are held per worker; Optuna's have none."""
    if task.system == "hpo":
        return HpoWorker(task.target, task.study, worker_id)
    return OptunaWorker(task.target, task.study)


def run_together(workers: list[SimulatedWorker], task: CellTask) -> ProcessResult:
    """Run every worker in its own thread for the cell's duration (or loop count)."""
    deadline = time.monotonic() + task.seconds if task.loops is None else math.inf
    max_loops = task.loops if task.loops is not None else sys.maxsize
    samples = [Samples() for _ in workers]
    elapsed = run_threads(
        [
            functools.partial(run_loops, worker, own, deadline, max_loops)
            for worker, own in zip(workers, samples, strict=True)
        ]
    )
    total = Samples()
    for own in samples:
        total.merge(own)
    return ProcessResult(total, elapsed)


# ---------------------------------------------------------------- worker processes (shared)


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Cell:
    """One system on one store at one concurrency."""

    store: str
    system: str
    clients: int
    threads_per_process: list[int]
    elapsed_s: float
    loops: int
    calls: int
    errors: int
    error_kinds: dict[str, int]
    latency_ms: dict[str, Latency]
    # GP cells: the share of the timed run's new trials that the model chose, and the
    # durations of the background fits (fit and candidate search) the study ran.
    model_share: float | None = None
    fit_seconds: tuple[float, ...] = ()

    @property
    def loops_per_s(self) -> float:
        return self.loops / self.elapsed_s

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.elapsed_s

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "loops_per_s": self.loops_per_s, "calls_per_s": self.calls_per_s}


def measure(store: str, task: CellTask, clients: int, max_processes: int, console: Console) -> Cell:
    """Run one cell and summarise it."""
    threads = spread(clients, max_processes)
    results = run_processes(task, threads)
    samples = Samples()
    for result in results:
        samples.merge(result.samples)
    elapsed = max(result.elapsed for result in results)
    cell = Cell(
        store=store,
        system=task.system,
        clients=clients,
        threads_per_process=threads,
        elapsed_s=elapsed,
        loops=samples.loops,
        calls=sum(len(samples.latencies[phase]) for phase in PHASES),
        errors=sum(samples.errors.values()),
        error_kinds=dict(samples.errors),
        # The phases, and the labelled splits of a phase (e.g. "suggest (model)").
        latency_ms={key: Latency.of(values) for key, values in samples.latencies.items()},
    )
    console.print(
        f"  {store:8} {task.system:6} {clients:3} clients: {cell.loops} loops in "
        f"{elapsed:.1f} s, suggest p50 {cell.latency_ms['suggest'].p50:.2f} ms, "
        f"{cell.errors} errors"
    )
    return cell


# ---------------------------------------------------------------- stores and the server


def prefill(address: str, study: str, reports: int) -> int:
    """Give ``study`` ``reports`` reports from one worker; returns the next trial number."""
    worker = HpoWorker(address, study, f"bench-{study}-prefill")
    try:
        for _ in range(reports):
            worker.suggest()
            worker.report()
            worker.finish()
        return worker.next_number()
    finally:
        worker.close()


def model_share(address: str, study: str, first_number: int) -> float:
    """The share of trials numbered ``first_number`` or above whose configuration the GP chose."""
    with Client(address) as client:
        trials = client.get_study(study).trials()
    new = [trial for trial in trials if trial.number >= first_number]
    return sum(trial.source == "model" for trial in new) / max(1, len(new))


def bench_gp(settings: Settings, console: Console) -> list[Cell]:
    """Suggest latency of gp-hyperband studies that already hold ``settings.gp_reports``
    reports, on SQLite, while the model process refits in the background."""
    console.print(f"[bold]sqlite, gp-hyperband after {settings.gp_reports} reports[/]")
    cells = []
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hpo-bench-")))
        url = stack.enter_context(sqlite_database(directory, "gp"))
        log_path = directory / "gp.log"
        address = stack.enter_context(coordinator(url, log_path, console, log_level="DEBUG"))
        for clients in GP_CLIENTS:
            study = f"bench-gp-{clients}c-{secrets.token_hex(3)}"
            create_hpo_study(address, study, algorithm="gp-hyperband")
            first_number = prefill(address, study, settings.gp_reports)
            task = CellTask(
                "hpo", address, study, settings.seconds, settings.loops, settings.warmup
            )
            cell = measure("sqlite", task, clients, settings.processes, console)
            share = model_share(address, study, first_number)
            fits = fit_seconds(log_path, study, settings.gp_reports)
            cells.append(
                dataclasses.replace(cell, system="hpo-gp", model_share=share, fit_seconds=fits)
            )
    return cells


def create_optuna_study(url: str, name: str) -> None:
    """Sampler and pruner are not stored; each :class:`OptunaWorker` brings its own."""
    storage = optuna.storages.RDBStorage(url)
    optuna.create_study(study_name=name, storage=storage)
    storage.engine.dispose()


def bench_store(store: str, settings: Settings, console: Console) -> list[Cell]:
    """Every cell of one store: one coordinator on a fresh hpo database, a fresh Optuna
    database beside it, a fresh study per cell."""
    console.print(f"[bold]{store}[/]")
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hpo-bench-")))

        def database(label: str) -> str:
            if store == "sqlite":
                return stack.enter_context(sqlite_database(directory, label))
            return stack.enter_context(postgres_database(settings.postgres, label))

        urls = {"hpo": database("hpo"), "optuna": database("optuna")}
        address = stack.enter_context(coordinator(urls["hpo"], directory / "hpo.log", console))
        creators: dict[str, tuple[str, Callable[[str, str], None]]] = {
            "hpo": (address, create_hpo_study),
            "optuna": (urls["optuna"], create_optuna_study),
        }
        cells = []
        for clients in settings.clients:
            for system in SYSTEMS:
                target, create = creators[system]
                study = f"bench-{clients}c-{secrets.token_hex(3)}"
                create(target, study)
                task = CellTask(
                    system, target, study, settings.seconds, settings.loops, settings.warmup
                )
                cells.append(measure(store, task, clients, settings.processes, console))
        return cells


# ---------------------------------------------------------------- report


def _ratio(numerator: float, denominator: float) -> str:
    if math.isnan(numerator) or math.isnan(denominator) or denominator == 0:
        return "-"
    return f"{numerator / denominator:.1f}x"


def results_table(store: str, cells: list[Cell]) -> Table:
    table = Table(
        title=f"{store}: latency (ms) and throughput",
        caption="suggest: hpo suggest, Optuna ask + suggest_*; report: hpo report, Optuna "
        "report + should_prune; finish: hpo complete, Optuna tell. RPC/s: hpo calls per second.",
    )
    table.add_column("clients", justify="right")
    table.add_column("system")
    for phase in PHASES:
        table.add_column(f"{phase}\np50", justify="right")
        table.add_column(f"{phase}\np99", justify="right")
    for heading in ("loops/s", "RPC/s", "errors"):
        table.add_column(heading, justify="right")
    for cell in cells:
        latencies = [
            ms(value)
            for phase in PHASES
            for value in (cell.latency_ms[phase].p50, cell.latency_ms[phase].p99)
        ]
        rpcs = f"{cell.calls_per_s:.0f}" if cell.system != "optuna" else "-"
        errors = f"[red]{cell.errors}[/]" if cell.errors else "0"
        table.add_row(
            str(cell.clients),
            cell.system,
            *latencies,
            f"{cell.loops_per_s:.0f}",
            rpcs,
            errors,
            end_section=cell.system == SYSTEMS[-1],
        )
    return table


def ratio_table(store: str, cells: list[Cell]) -> Table:
    """Optuna latency / hpo latency and hpo throughput / Optuna throughput: above 1x,
    hpo is that many times better."""
    table = Table(title=f"{store}: hpo vs Optuna (above 1x: hpo is that many times better)")
    table.add_column("clients", justify="right")
    for phase in ("suggest", "report"):
        table.add_column(f"{phase} p50\nOptuna/hpo", justify="right")
        table.add_column(f"{phase} p99\nOptuna/hpo", justify="right")
    table.add_column("loops/s\nhpo/Optuna", justify="right")
    by_key = {(cell.clients, cell.system): cell for cell in cells}
    for clients in sorted({cell.clients for cell in cells}):
        ours, theirs = by_key[clients, "hpo"], by_key[clients, "optuna"]
        latencies = [
            _ratio(getattr(theirs.latency_ms[phase], q), getattr(ours.latency_ms[phase], q))
            for phase in ("suggest", "report")
            for q in ("p50", "p99")
        ]
        table.add_row(str(clients), *latencies, _ratio(ours.loops_per_s, theirs.loops_per_s))
    return table


@dataclass(frozen=True)
class Goal:
    name: str
    verdict: str  # PASS, FAIL or SKIP
    detail: str


def check_goals(cells: list[Cell]) -> list[Goal]:
    """The service's targets, judged on the hpo cells that measure them."""
    hpo_cells = [cell for cell in cells if cell.system == "hpo"]
    single = [cell for cell in hpo_cells if cell.store == "sqlite" and cell.clients == 1]
    busy = [cell for cell in hpo_cells if cell.clients == GOAL_CLIENTS]
    goals = []
    name = f"ASHA suggest p50 under {GOAL_SUGGEST_P50_MS:g} ms on SQLite with one client"
    if single:
        p50 = single[0].latency_ms["suggest"].p50
        verdict = "PASS" if p50 < GOAL_SUGGEST_P50_MS else "FAIL"
        goals.append(Goal(name, verdict, f"{p50:.2f} ms"))
    else:
        goals.append(Goal(name, "SKIP", "SQLite with 1 client not measured"))
    name = f"no failed request at {GOAL_CLIENTS} clients"
    if busy:
        detail = ", ".join(f"{cell.store}: {cell.errors} errors" for cell in busy)
        verdict = "PASS" if all(cell.errors == 0 for cell in busy) else "FAIL"
        goals.append(Goal(name, verdict, detail))
    else:
        goals.append(Goal(name, "SKIP", f"{GOAL_CLIENTS} clients not measured"))
    gp = [cell for cell in cells if cell.system == "hpo-gp" and cell.clients == 1]
    name = (
        f"GP suggest p50 under {GOAL_GP_P50_MS:g} ms and p99 under {GOAL_GP_P99_MS:g} ms "
        "with one client"
    )
    if gp:
        # Judged on every suggestion and on those the model chose, when any was timed.
        judged = {"all": gp[0].latency_ms["suggest"], **_model_suggests(gp[0])}
        verdict = (
            "PASS"
            if all(
                latency.p50 < GOAL_GP_P50_MS and latency.p99 < GOAL_GP_P99_MS
                for latency in judged.values()
            )
            else "FAIL"
        )
        detail = "; ".join(
            f"{label}: p50 {latency.p50:.2f} ms, p99 {latency.p99:.2f} ms ({latency.count} calls)"
            for label, latency in judged.items()
        )
        if len(judged) == 1:
            detail += "; no model-chosen suggestion was timed"
        goals.append(Goal(name, verdict, detail))
    else:
        goals.append(Goal(name, "SKIP", "GP cells not measured (--gp-reports 0)"))
    return goals


def _model_suggests(cell: Cell) -> dict[str, Latency]:
    """The latency of the suggestions that handed out a new trial the model chose, if any."""
    latency = cell.latency_ms.get(f"suggest ({SUGGESTED[0]})")
    return {"model-chosen": latency} if latency is not None else {}


def split_line(cell: Cell) -> str:
    """A GP cell's suggest latency by what the call handed out, with the count of each."""
    described = {SUGGESTED[0]: "suggest of a model-chosen new trial", SUGGESTED[1]: "any other"}
    parts = []
    for label in SUGGESTED:
        latency = cell.latency_ms.get(f"suggest ({label})", Latency.of([]))
        parts.append(
            f"{described[label]}: {latency.count} calls, p50 {ms(latency.p50)} ms, "
            f"p99 {ms(latency.p99)} ms"
        )
    return "; ".join(parts)


def print_report(cells: list[Cell], goals: list[Goal], console: Console) -> None:
    gp = [cell for cell in cells if cell.system == "hpo-gp"]
    if gp:
        console.print()
        console.print(results_table("sqlite, gp-hyperband", gp))
        for cell in gp:
            fits = np.array(cell.fit_seconds)
            timing = (
                f"{len(fits)} background fits, p50 {np.median(fits):.2f} s, max {fits.max():.2f} s"
                if len(fits)
                else "no background fit finished in the timed run"
            )
            console.print(
                f"  {cell.clients} clients: {cell.model_share:.0%} of the new trials were "
                f"chosen by the model; {timing}"
            )
            console.print(f"    {split_line(cell)}")
    cells = [cell for cell in cells if cell.system != "hpo-gp"]
    for store in dict.fromkeys(cell.store for cell in cells):
        ours = [cell for cell in cells if cell.store == store]
        console.print()
        console.print(results_table(store, ours))
        console.print(ratio_table(store, ours))
        for cell in ours:
            if cell.error_kinds:
                kinds = ", ".join(f"{kind} x{count}" for kind, count in cell.error_kinds.items())
                console.print(f"  [red]{cell.system} at {cell.clients} clients:[/] {kinds}")
    console.print()
    colours = {"PASS": "green", "FAIL": "red", "SKIP": "yellow"}
    for goal in goals:
        console.print(f"[{colours[goal.verdict]}]{goal.verdict}[/]  {goal.name} ({goal.detail})")


# ---------------------------------------------------------------- command line


@dataclass(frozen=True)
class Settings:
    stores: list[str]
    clients: list[int]
    seconds: float
    loops: int | None
    warmup: int
    processes: int
    postgres: str
    gp_reports: int
    json: Path | None


def _int_list(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("give positive integers separated by commas")
    return values


def parse_args(argv: list[str] | None = None) -> Settings:
    """Options left out take the full run's defaults, or the quick run's with ``--quick``;
    options given always win, so ``--quick --stores postgres`` works."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=store_list, help="sqlite,postgres (default: both)")
    parser.add_argument("--clients", type=_int_list, help="concurrency levels (default 1,8,32)")
    parser.add_argument("--seconds", type=float, help="timed seconds per cell (default 10)")
    parser.add_argument("--loops", type=int, help="timed loops per worker instead of --seconds")
    parser.add_argument("--warmup", type=int, default=3, help="untimed loops per worker")
    parser.add_argument("--processes", type=int, default=4, help="most worker processes")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="admin connection URL")
    parser.add_argument(
        "--gp-reports",
        type=int,
        help="reports in the GP studies before timing (default 500, --quick 0; 0 skips them)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: SQLite, 1 and 8 clients, 2 s a cell"
    )
    args = parser.parse_args(argv)
    defaults: dict[str, Any] = (
        {"stores": ["sqlite"], "clients": [1, 8], "seconds": 2.0, "gp_reports": 0}
        if args.quick
        else {
            "stores": list(STORES),
            "clients": [1, 8, GOAL_CLIENTS],
            "seconds": 10.0,
            "gp_reports": 500,
        }
    )
    return Settings(
        stores=args.stores or defaults["stores"],
        clients=args.clients or defaults["clients"],
        seconds=args.seconds if args.seconds is not None else defaults["seconds"],
        loops=args.loops,
        warmup=args.warmup,
        processes=max(1, args.processes),
        postgres=args.postgres,
        gp_reports=args.gp_reports if args.gp_reports is not None else defaults["gp_reports"],
        json=args.json,
    )


def describe(settings: Settings, console: Console) -> None:
    """Say what is about to run, including how the clients are spread over processes."""
    duration = f"{settings.loops} loops per worker" if settings.loops else f"{settings.seconds:g} s"
    layouts = ", ".join(
        f"{clients} -> {' + '.join(map(str, spread(clients, settings.processes)))}"
        for clients in settings.clients
    )
    console.print(
        f"[bold]hpo service benchmark[/]: stores {', '.join(settings.stores)}; "
        f"{duration} per cell after {settings.warmup} warm-up loops per worker; "
        f"{os.cpu_count()} CPUs."
    )
    console.print(
        f"Clients per spawned process (threads in each): {layouts}. "
        "hpo: one coordinator process per store; Optuna: in-process RDBStorage per worker."
    )


def write_json(path: Path, settings: Settings, cells: list[Cell], goals: list[Goal]) -> None:
    payload = {
        "settings": {**asdict(settings), "json": str(settings.json)},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "versions": {
            "hpo": hpo.__version__,
            "optuna": optuna.__version__,
            "sqlalchemy": sqlalchemy.__version__,
        },
        "cells": [cell.to_json() for cell in cells],
        "goals": [asdict(goal) for goal in goals],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    # Never narrower than the tables: a pipe or a log file would otherwise get 80
    # columns, and rich would cut the numbers short.
    console = Console(width=max(Console().width, MIN_WIDTH))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    describe(settings, console)
    cells: list[Cell] = []
    for store in settings.stores:
        if store == "postgres" and (reason := postgres_reachable(settings.postgres)):
            console.print(f"[yellow]PostgreSQL skipped: unreachable ({reason})[/]")
            continue
        cells.extend(bench_store(store, settings, console))
    if settings.gp_reports > 0:
        cells.extend(bench_gp(settings, console))
    goals = check_goals(cells)
    print_report(cells, goals, console)
    if settings.json:
        write_json(settings.json, settings, cells, goals)
        console.print(f"results written to {settings.json}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # The coordinator, the worker processes and the databases are gone by now.
        sys.exit(130)
