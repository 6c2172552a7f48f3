"""Load benchmark: many simulated workers against one coordinator, then an audit of the store.

Run it from the repository root, with hpo's virtual environment active:

    python -m benchmarks.load                   # 64 workers, 30 s, SQLite and PostgreSQL
    python -m benchmarks.load --seconds 5 --workers 8 --stores sqlite
    python -m benchmarks.load --json load.json --log-dir load-logs

Per store it starts ``hpo serve`` on a fresh database (a SQLite file in a temporary
directory, or a PostgreSQL database created for the run and dropped after it), creates an
ASHA study with no trial budget (so it cannot finish during the run, and the coordinator's
CPU goes to serving rather than to GP fits), and runs ``--workers`` simulated workers for
``--seconds``. Each worker has its own :class:`hpo.Client` (its own worker id) and follows
the worker daemon's protocol: suggest; report a cheap synthetic value at each resource the
coordinator asks for, each report with its own request id; stop or continue as answered;
complete; heartbeat the held trial when due. It retries only what the daemon retries: the
client's channel resends a call that failed with UNAVAILABLE, and a call that still did not
get through (a RemoteError) is sent again with backoff under the same request id. Every
failed attempt counts as an error, by RPC and gRPC status; a refused call (any other status)
ends the assignment, whose lease then runs out and hands the trial to another worker, as
after a crash. At the end of the run the workers take no new trial and finish the
assignment they hold.

Every acknowledged report (the call returned an answer) is recorded as (trial id, resource,
value, request id), and so is every report whose call failed. Once the coordinator has
exited, the store is audited:

* every acknowledged report is stored exactly once under its request id, with its trial,
  resource and value (otherwise it is *lost*);
* no request id or (trial, resource) is stored twice (*duplicated*), and no stored report
  carries a request id no worker sent (*phantom*);
* no trial was held by two workers at once: in the ``decisions`` log, every hand-out of a
  trial (``new``, ``promote``, ``resume``) is followed by its settlement (``release``,
  ``complete``, ``stop``, ``fail`` or ``requeue``) before the next hand-out, and no
  (trial, rung) is promoted twice.

The goal is zero errors and zero lost reports; the exit code is 1 when a store misses it
or fails an audit check. Workers are spread over ``--processes`` spawned processes, threads
inside each, because one Python process cannot drive 64 clients fast.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import re
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import sqlalchemy
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, select

import hpo
from benchmarks.harness import (
    DEFAULT_POSTGRES,
    MIN_WIDTH,
    STORES,
    Latency,
    Samples,
    coordinator,
    create_hpo_study,
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
from hpo.errors import HpoError, RemoteError
from hpo.spec import Algorithm
from hpo.storage import tables
from hpo.workers.daemon import DEFAULT_HEARTBEAT_SECONDS
from hpo.workers.retry import Backoff

RPCS = ("Suggest", "Report", "Complete", "Heartbeat")
# Decisions that hand a trial to a worker, and those that end the worker's hold on it.
HAND_OUTS = ("new", "promote", "resume")
SETTLEMENTS = frozenset({"release", "complete", "stop", "fail", "requeue"})
# A worker that is stopping gives up retrying a call after this long (the daemon's grace
# is longer, but a benchmark should end); the trial's lease then settles it.
STOP_GRACE_SECONDS = 10.0
LOG_LINE = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) ", re.MULTILINE)
T = TypeVar("T")


# ---------------------------------------------------------------- the simulated worker


class SentReport(NamedTuple):
    """A report as a worker sent it; the audit compares the store's rows with these."""

    trial_id: int
    resource: float
    value: float
    request_id: str


class CallFailed(Exception):
    """An RPC raised; it is counted already. ``transient``: the coordinator could not be
    reached or did not answer (a RemoteError), which a worker retries; otherwise it refused."""

    def __init__(self, kind: str, transient: bool) -> None:
        super().__init__(kind)
        self.transient = transient


@dataclass
class Tally:
    """What one or more workers recorded: latencies and errors per RPC (``samples.loops``
    counts finished assignments), every report sent, and one error message per kind, so
    that a failing run says what went wrong."""

    samples: Samples = field(default_factory=lambda: Samples({rpc: [] for rpc in RPCS}))
    acknowledged: list[SentReport] = field(default_factory=list)
    unacknowledged: list[SentReport] = field(default_factory=list)
    error_examples: dict[str, str] = field(default_factory=dict)
    # Heartbeats answered that the worker no longer holds its trial (the lease had run out).
    lost_leases: int = 0
    # Suggest answered "finished" before the end of the run: the study was too small.
    finished_early: bool = False

    def merge(self, other: Tally) -> None:
        self.samples.merge(other.samples)
        self.acknowledged.extend(other.acknowledged)
        self.unacknowledged.extend(other.unacknowledged)
        for kind, message in other.error_examples.items():
            self.error_examples.setdefault(kind, message)
        self.lost_leases += other.lost_leases
        self.finished_early |= other.finished_early


class LoadWorker:
    """One simulated worker daemon with one slot that trains instantly, so the load on the
    coordinator is the protocol's calls alone. It retries as ``hpo.workers.daemon`` does:
    calls that did not get through are sent again with backoff under their first request id
    (every failed attempt still counts as an error); a refused report or completion ends the
    assignment, a refused Suggest ends the worker."""

    def __init__(self, address: str, study: str, worker_id: str) -> None:
        self.tally = Tally()
        self._client = hpo.Client(address, worker_id=worker_id)
        # Connects before the timed run starts.
        self._study = self._client.get_study(study)
        self._heartbeat_seconds = DEFAULT_HEARTBEAT_SECONDS
        self._heartbeat_due = time.monotonic() + self._heartbeat_seconds

    def run(self, stop: threading.Event) -> None:
        """Take assignments until ``stop`` is set; the one in hand is finished first."""
        backoff = Backoff()
        # One request id until an answer arrives, so an assignment whose answer was lost is
        # handed to this worker on the retry.
        request_id = uuid.uuid4().hex
        while not stop.is_set():
            try:
                trial = self._call(
                    "Suggest", functools.partial(self._study.suggest, stop, request_id)
                )
            except CallFailed as failed:
                if not failed.transient:
                    return
                stop.wait(backoff.next_delay())
                continue
            backoff.reset()
            request_id = uuid.uuid4().hex
            if trial is None:
                self.tally.finished_early = not stop.is_set()
                return
            try:
                finished = self._train(trial, stop)
            except CallFailed:
                continue
            self.tally.samples.loops += finished

    def _train(self, trial: hpo.Trial, stop: threading.Event) -> bool:
        """Report at each resource the coordinator asks for until it says stop, then
        complete; heartbeat between the calls when due. False when the lease was lost."""
        if trial.heartbeat_seconds < self._heartbeat_seconds:
            # A shorter lease than the daemon's default beat: beat at the lease's pace now.
            self._heartbeat_seconds = trial.heartbeat_seconds
            self._heartbeat_due = min(
                self._heartbeat_due, time.monotonic() + trial.heartbeat_seconds
            )
        resource = trial.resource
        while True:
            if not self._heartbeat_if_due(trial):
                return False
            value = objective(trial.config, resource)
            sent = SentReport(trial.id, resource, value, uuid.uuid4().hex)
            report = functools.partial(trial.report, resource, value, sent.request_id)
            try:
                decision = self._until_delivered("Report", report, stop)
            except CallFailed:
                self.tally.unacknowledged.append(sent)
                raise
            self.tally.acknowledged.append(sent)
            if decision.should_stop or decision.next_resource is None:
                break
            resource = decision.next_resource
        self._until_delivered("Complete", functools.partial(trial.complete, uuid.uuid4().hex), stop)
        return True

    def _heartbeat_if_due(self, trial: hpo.Trial) -> bool:
        """Extend the held trial's lease when a heartbeat is due; False when the coordinator
        answers that this worker no longer holds it. A failed heartbeat is only counted:
        the daemon carries on and tries again at the next beat."""
        if time.monotonic() < self._heartbeat_due:
            return True
        self._heartbeat_due = time.monotonic() + self._heartbeat_seconds
        try:
            leases = self._call("Heartbeat", functools.partial(self._client.heartbeat, [trial.id]))
        except CallFailed:
            return True
        if leases.get(trial.id, False):
            return True
        self.tally.lost_leases += 1
        return False

    def _until_delivered(self, rpc: str, call: Callable[[], T], stop: threading.Event) -> T:
        """``call()`` (which carries its request id), retried with backoff while it does not
        get through; once the run is over, given up after STOP_GRACE_SECONDS."""
        backoff = Backoff()
        give_up_at = math.inf
        while True:
            try:
                return self._call(rpc, call)
            except CallFailed as failed:
                if stop.is_set():
                    give_up_at = min(give_up_at, time.monotonic() + STOP_GRACE_SECONDS)
                if not failed.transient or time.monotonic() >= give_up_at:
                    raise
            time.sleep(backoff.next_delay())

    def _call(self, rpc: str, call: Callable[[], T]) -> T:
        """Time one RPC; count a failure by RPC and gRPC status and raise CallFailed."""
        start = time.perf_counter()
        try:
            return call()
        except HpoError as error:
            kind = f"{rpc} {error.code.name}"
            self.tally.samples.errors[kind] += 1
            self.tally.error_examples.setdefault(kind, str(error))
            raise CallFailed(kind, isinstance(error, RemoteError)) from error
        finally:
            self.tally.samples.latencies[rpc].append(time.perf_counter() - start)

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class LoadTask:
    """What every worker process needs (a :class:`benchmarks.harness.ProcessJob`; picklable)."""

    address: str
    study: str
    seconds: float

    @contextmanager
    def prepare(self, index: int, threads: int) -> Iterator[Callable[[], tuple[Tally, float]]]:
        """Process ``index``'s workers, connected; closed on the way out."""
        workers: list[LoadWorker] = []
        try:
            for thread in range(threads):
                worker_id = f"load-{self.study}-p{index}-t{thread}"
                workers.append(LoadWorker(self.address, self.study, worker_id))
            yield functools.partial(self.run, workers)
        finally:
            for worker in workers:
                worker.close()

    def run(self, workers: list[LoadWorker]) -> tuple[Tally, float]:
        """Run the workers together for the task's duration; return what they recorded and
        the seconds until the last one had finished its final assignment."""
        stop = threading.Event()
        timer = threading.Timer(self.seconds, stop.set)
        timer.start()
        try:
            elapsed = run_threads([functools.partial(worker.run, stop) for worker in workers])
        finally:
            timer.cancel()
        total = Tally()
        for worker in workers:
            total.merge(worker.tally)
        return total, elapsed


# ---------------------------------------------------------------- the audit


@dataclass(frozen=True)
class Audit:
    """The store compared with what the workers sent (see the module docstring)."""

    sent: int
    acknowledged: int
    stored: int
    # Acknowledged, but not stored under its request id, or stored with other figures.
    missing: int
    altered: int
    duplicated: int
    phantom: int
    # Reports whose call failed although the coordinator had committed them.
    stored_unacknowledged: int
    trials: int
    hand_outs: dict[str, int]
    # A hand-out of a trial that had not been settled since its previous hand-out.
    overlapping_holds: int
    # A settlement of a trial that no worker held.
    unheld_settlements: int
    duplicate_promotions: int

    @property
    def lost(self) -> int:
        return self.missing + self.altered

    @property
    def violations(self) -> int:
        """Audit failures other than lost reports."""
        return (
            self.duplicated
            + self.phantom
            + self.overlapping_holds
            + self.unheld_settlements
            + self.duplicate_promotions
        )


def audit_store(url: str, study: str, tally: Tally) -> Audit:
    """Read the study's reports, decisions and trial count and audit them."""
    engine = sqlalchemy.create_engine(url)
    report, decision, trial = tables.Report, tables.Decision, tables.Trial
    try:
        with engine.connect() as connection:
            study_id = connection.scalar(select(tables.Study.id).where(tables.Study.name == study))
            rows = connection.execute(
                select(report.trial_id, report.resource, report.value, report.request_id).where(
                    report.study_id == study_id
                )
            ).all()
            log = connection.execute(
                select(decision.trial_id, decision.kind, decision.rung)
                .where(decision.study_id == study_id, decision.trial_id.is_not(None))
                .order_by(decision.id)
            ).all()
            trials = connection.scalar(
                select(func.count()).select_from(trial).where(trial.study_id == study_id)
            )
    finally:
        engine.dispose()
    stored = [SentReport(*row) for row in rows]
    return Audit(
        sent=len(tally.acknowledged) + len(tally.unacknowledged),
        acknowledged=len(tally.acknowledged),
        stored=len(stored),
        trials=trials or 0,
        **compare_reports(tally, stored),
        **check_holds([(row.trial_id, row.kind, row.rung) for row in log]),
    )


def compare_reports(tally: Tally, stored: list[SentReport]) -> dict[str, int]:
    """The report counts of :class:`Audit`."""
    by_request: dict[str, list[SentReport]] = {}
    for row in stored:
        by_request.setdefault(row.request_id, []).append(row)
    per_point = Counter((row.trial_id, row.resource) for row in stored)
    sent_ids = {sent.request_id for sent in (*tally.acknowledged, *tally.unacknowledged)}
    missing = sum(sent.request_id not in by_request for sent in tally.acknowledged)
    altered = sum(
        sent.request_id in by_request and by_request[sent.request_id][0] != sent
        for sent in tally.acknowledged
    )
    duplicated = sum(len(rows) - 1 for rows in by_request.values()) + sum(
        count - 1 for count in per_point.values()
    )
    return {
        "missing": missing,
        "altered": altered,
        "duplicated": duplicated,
        "phantom": sum(row.request_id not in sent_ids for row in stored),
        "stored_unacknowledged": sum(
            sent.request_id in by_request for sent in tally.unacknowledged
        ),
    }


def check_holds(log: Sequence[tuple[int, str, int | None]]) -> dict[str, Any]:
    """Replay the decisions log (trial, kind, rung) in order: the hold counts of
    :class:`Audit`. Decisions of a study are written one transaction at a time, under the
    study's lock, so their ids are in the order they were taken."""
    held: set[int] = set()
    hand_outs: Counter[str] = Counter({kind: 0 for kind in HAND_OUTS})
    promotions: Counter[tuple[int, int | None]] = Counter()
    overlapping = unheld = 0
    for trial_id, kind, rung in log:
        if kind in HAND_OUTS:
            hand_outs[kind] += 1
            overlapping += trial_id in held
            held.add(trial_id)
            if kind == "promote":
                promotions[trial_id, rung] += 1
        elif kind in SETTLEMENTS:
            unheld += trial_id not in held
            held.discard(trial_id)
    return {
        "hand_outs": dict(hand_outs),
        "overlapping_holds": overlapping,
        "unheld_settlements": unheld,
        "duplicate_promotions": sum(count - 1 for count in promotions.values()),
    }


# ---------------------------------------------------------------- one store


@dataclass(frozen=True)
class StoreResult:
    """One store's run: the figures of its tables and of ``--json``."""

    store: str
    workers: int
    threads_per_process: list[int]
    elapsed_s: float
    assignments: int
    latency_ms: dict[str, Latency]
    errors: dict[str, int]
    error_examples: dict[str, str]
    lost_leases: int
    finished_early: bool
    audit: Audit
    # WARNING/ERROR/CRITICAL lines in the coordinator's log: failures the channel retried
    # away are visible only there.
    coordinator_log: dict[str, int]

    @property
    def calls(self) -> int:
        return self.latency_ms["all"].count

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def goal_met(self) -> bool:
        """Zero errors and zero lost reports, and an audit without violations."""
        return self.error_count == 0 and self.audit.lost == 0 and self.audit.violations == 0

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "requests_per_s": self.calls / self.elapsed_s,
            "lost_reports": self.audit.lost,
            "goal_met": self.goal_met,
        }


def bench_store(store: str, settings: Settings, console: Console) -> StoreResult:
    """Serve a fresh database, load it for the run's duration, stop the coordinator, and
    audit the store once nothing writes to it any more."""
    threads = spread(settings.workers, settings.processes)
    console.print(
        f"[bold]{store}[/]: {settings.workers} workers in {len(threads)} processes "
        f"({' + '.join(map(str, threads))} threads) for {settings.seconds:g} s"
    )
    options = (
        [] if settings.lease_seconds is None else ["--lease-seconds", f"{settings.lease_seconds:g}"]
    )
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hpo-load-")))
        if store == "sqlite":
            url = stack.enter_context(sqlite_database(directory, "load"))
        else:
            url = stack.enter_context(postgres_database(settings.postgres, "load"))
        log_dir = settings.log_dir or directory
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"coordinator-{store}.log"
        study = f"load-{secrets.token_hex(3)}"
        with coordinator(url, log_path, console, options=options) as address:
            create_hpo_study(address, study, algorithm=settings.algorithm)
            results = run_processes(LoadTask(address, study, settings.seconds), threads)
        tally = Tally()
        for own, _ in results:
            tally.merge(own)
        audit = audit_store(url, study, tally)
        log_levels = Counter(LOG_LINE.findall(log_path.read_text()))
    every_call = [value for values in tally.samples.latencies.values() for value in values]
    return StoreResult(
        store=store,
        workers=settings.workers,
        threads_per_process=threads,
        elapsed_s=max(elapsed for _, elapsed in results),
        assignments=tally.samples.loops,
        latency_ms={
            **{rpc: Latency.of(tally.samples.latencies[rpc]) for rpc in RPCS},
            "all": Latency.of(every_call),
        },
        errors=dict(tally.samples.errors),
        error_examples=tally.error_examples,
        lost_leases=tally.lost_leases,
        finished_early=tally.finished_early,
        audit=audit,
        coordinator_log=dict(log_levels),
    )


# ---------------------------------------------------------------- report


def _errors_by_status(errors: dict[str, int], rpc: str | None) -> str:
    """``"STATUS xN, ..."`` for one RPC (or every RPC), "0" when there are none."""
    counts: Counter[str] = Counter()
    for kind, count in errors.items():
        name, status = kind.split(" ", 1)
        if rpc is None or name == rpc:
            counts[status] += count
    if not counts:
        return "0"
    return "[red]" + ", ".join(f"{status} x{count}" for status, count in counts.items()) + "[/]"


def load_table(result: StoreResult) -> Table:
    table = Table(
        title=f"{result.store}: {result.workers} workers, {result.elapsed_s:.1f} s, "
        f"{result.assignments} assignments",
        caption="Latency in ms, failed calls included; errors by gRPC status.",
    )
    for heading in ("RPC", "calls", "calls/s", "p50", "p99", "errors"):
        table.add_column(heading, justify="left" if heading in ("RPC", "errors") else "right")
    for rpc in (*RPCS, "all"):
        latency = result.latency_ms[rpc]
        table.add_row(
            "all requests" if rpc == "all" else rpc,
            str(latency.count),
            f"{latency.count / result.elapsed_s:.1f}",
            ms(latency.p50),
            ms(latency.p99),
            _errors_by_status(result.errors, None if rpc == "all" else rpc),
            end_section=rpc == RPCS[-1],
        )
    return table


def _count(value: int, bad: bool = True) -> str:
    return f"[red]{value}[/]" if value and bad else str(value)


def audit_table(result: StoreResult) -> Table:
    audit = result.audit
    table = Table(title=f"{result.store}: audit of the store after the run")
    table.add_column("check")
    table.add_column("count", justify="right")
    hand_outs = ", ".join(f"{kind} {count}" for kind, count in audit.hand_outs.items())
    log = ", ".join(f"{level} {count}" for level, count in result.coordinator_log.items())
    rows = [
        ("reports sent", str(audit.sent)),
        ("reports acknowledged", str(audit.acknowledged)),
        ("reports in the database", str(audit.stored)),
        ("lost: acknowledged, missing", _count(audit.missing)),
        ("lost: acknowledged, stored with other figures", _count(audit.altered)),
        ("duplicated (request id or trial and resource)", _count(audit.duplicated)),
        ("phantom (stored, never sent)", _count(audit.phantom)),
        ("stored although the call failed", _count(audit.stored_unacknowledged, bad=False)),
        ("trials", str(audit.trials)),
        ("hand-outs", hand_outs),
        ("overlapping holds of a trial", _count(audit.overlapping_holds)),
        ("settlements of an unheld trial", _count(audit.unheld_settlements)),
        ("duplicate (trial, rung) promotions", _count(audit.duplicate_promotions)),
        ("leases lost (heartbeat answered inactive)", _count(result.lost_leases, bad=False)),
        ("coordinator log warnings and errors", log or "0"),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def print_result(result: StoreResult, console: Console) -> None:
    console.print()
    console.print(load_table(result))
    console.print(audit_table(result))
    for kind, message in result.error_examples.items():
        console.print(f"  [red]{kind}[/] x{result.errors[kind]}, e.g.: {escape(message)}")
    if result.finished_early:
        console.print("  [yellow]the study finished before the end of the run[/]")
    verdict = "[green]PASS[/]" if result.goal_met else "[red]FAIL[/]"
    console.print(
        f"{verdict}  {result.store}: {result.error_count} errors, {result.audit.lost} lost "
        f"reports, {result.audit.violations} other audit failures; "
        f"{result.calls / result.elapsed_s:.0f} requests/s, "
        f"p99 {result.latency_ms['all'].p99:.1f} ms "
        "(goal: zero errors, zero lost reports)"
    )


# ---------------------------------------------------------------- command line


@dataclass(frozen=True)
class Settings:
    stores: list[str]
    seconds: float
    workers: int
    processes: int
    algorithm: str
    lease_seconds: float | None
    postgres: str
    log_dir: Path | None
    json: Path | None


def parse_args(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--stores", type=store_list, default=list(STORES), help="sqlite,postgres (default: both)"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="run time per store")
    parser.add_argument("--workers", type=int, default=64, help="simulated workers")
    parser.add_argument("--processes", type=int, default=4, help="most worker processes")
    parser.add_argument(
        "--algorithm",
        choices=[algorithm.value for algorithm in Algorithm],
        default=Algorithm.ASHA.value,
        help="the study's algorithm (default asha: no model fits compete for the CPU)",
    )
    parser.add_argument(
        "--lease-seconds",
        type=float,
        help="the coordinator's lease (default: its own); a short one exercises expiry",
    )
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="admin connection URL")
    parser.add_argument(
        "--log-dir", type=Path, help="keep the coordinators' logs here (default: discarded)"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.processes < 1 or args.seconds <= 0:
        parser.error("--workers, --processes and --seconds must be positive")
    return Settings(
        stores=args.stores,
        seconds=args.seconds,
        workers=args.workers,
        processes=args.processes,
        algorithm=args.algorithm,
        lease_seconds=args.lease_seconds,
        postgres=args.postgres,
        log_dir=args.log_dir,
        json=args.json,
    )


def write_json(path: Path, settings: Settings, results: list[StoreResult]) -> None:
    payload = {
        "settings": {
            **asdict(settings),
            "log_dir": str(settings.log_dir) if settings.log_dir else None,
            "json": str(settings.json),
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "versions": {"hpo": hpo.__version__, "sqlalchemy": sqlalchemy.__version__},
        "stores": [result.to_json() for result in results],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    # Never narrower than the tables (a pipe or a log file would otherwise get 80 columns).
    console = Console(width=max(Console().width, MIN_WIDTH))
    console.print(
        f"[bold]hpo load benchmark[/]: {settings.workers} workers, {settings.seconds:g} s per "
        f"store, {settings.algorithm} study; {os.cpu_count()} CPUs."
    )
    results: list[StoreResult] = []
    for store in settings.stores:
        if store == "postgres" and (reason := postgres_reachable(settings.postgres)):
            console.print(f"[yellow]SKIP[/]  postgres: unreachable ({reason})")
            continue
        result = bench_store(store, settings, console)
        print_result(result, console)
        results.append(result)
    if settings.json:
        write_json(settings.json, settings, results)
        console.print(f"results written to {settings.json}")
    return 0 if all(result.goal_met for result in results) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # The coordinators, the worker processes and the databases are gone by now.
        sys.exit(130)
