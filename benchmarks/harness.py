"""What the service benchmarks share: the workload, fresh databases, a coordinator process,
spawned worker processes and latency figures.

Used by ``benchmarks/throughput.py`` (latency and throughput against Optuna),
``benchmarks/load.py`` (64 workers, then an audit of the store), ``benchmarks/freshness.py``
(background fits under short trials) and ``benchmarks/dashboard.py`` (the store of a large
study). Run those from the repository root as modules (``python -m benchmarks.load``).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from queue import Empty
from typing import Any, Protocol, TypeVar

import numpy as np
import psycopg
import sqlalchemy
from psycopg import sql
from rich.console import Console

from hpo import Categorical, Client, Float, Int

# ---------------------------------------------------------------- the workload

SPACE: dict[str, Float | Int | Categorical] = {
    "x": Float(-5, 5),
    "y": Float(1e-4, 1, log=True),
    "n": Int(1, 64, log=True),
    "c": Categorical(["a", "b", "c"]),
}


R_MIN, R_MAX, ETA = 1, 27, 3
# The phases of a simulated worker's loop.
PHASES = ("suggest", "report", "finish")


STORES = ("sqlite", "postgres")


DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


# A worker process that has not imported and warmed up by then is stuck, not slow.
READY_TIMEOUT_S = 300.0


MIN_WIDTH = 120


def objective(config: Mapping[str, Any], resource: float) -> float:
    """A cheap synthetic loss that improves with the resource, so rungs rank trials
    differently and ASHA both promotes and stops; the benchmark measures the service,
    not training."""
    penalty = {"a": 0.0, "b": 0.5, "c": 1.0}[config["c"]]
    return (
        (config["x"] - 1.0) ** 2
        + (math.log10(config["y"]) + 2.0) ** 2
        + abs(math.log2(config["n"]) - 3.0)
        + penalty
        + 1.0 / resource
    )


@dataclass
class Samples:
    """What one or more workers recorded: latencies in seconds per phase (or per RPC, for
    benchmarks that time calls one by one), loops that went through all phases, and failed
    calls by kind (here ``"phase: ExceptionType"``)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PHASES})
    loops: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def merge(self, other: Samples) -> None:
        for phase, values in other.latencies.items():
            self.latencies.setdefault(phase, []).extend(values)
        self.loops += other.loops
        self.errors.update(other.errors)


ResultT = TypeVar("ResultT")


ResultT_co = TypeVar("ResultT_co", covariant=True)


class ProcessJob(Protocol[ResultT_co]):
    """What each spawned worker process runs; picklable. ``prepare`` sets up (and may warm
    up) the process's ``threads`` simulated workers, yields the function that runs them
    together once every process is ready, and closes them on the way out."""

    def prepare(
        self, index: int, threads: int
    ) -> AbstractContextManager[Callable[[], ResultT_co]]: ...


def worker_process(
    job: ProcessJob[ResultT],
    index: int,
    threads: int,
    ready: Barrier,
    results: Queue[ResultT | str],
) -> None:
    """Entry point of one spawned process: set up its workers, wait until every process is
    ready, then run them. Sends the job's result, or the traceback as a string when anything
    failed (the barrier is broken too, so the other processes do not wait for this one)."""
    try:
        with job.prepare(index, threads) as run:
            ready.wait(READY_TIMEOUT_S)
            results.put(run())
    except BaseException:
        ready.abort()
        results.put(traceback.format_exc())


def run_threads(targets: Sequence[Callable[[], None]]) -> float:
    """Run every target in its own thread, all started together; return the seconds until
    the last one ended (the span over which their calls were counted)."""
    runners = [threading.Thread(target=target) for target in targets]
    start = time.perf_counter()
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    return time.perf_counter() - start


def spread(clients: int, max_processes: int) -> list[int]:
    """Threads per process: as many processes as allowed (at most one per client), the
    clients dealt out evenly."""
    processes = min(clients, max_processes)
    base, extra = divmod(clients, processes)
    return [base + (index < extra) for index in range(processes)]


def run_processes(job: ProcessJob[ResultT], threads: list[int]) -> list[ResultT]:
    """Run ``job`` in one spawned process per entry of ``threads`` (that many workers in
    each) and return the processes' results; raise if any process failed."""
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(len(threads))
    results: Queue[ResultT | str] = context.Queue()
    processes = [
        context.Process(target=worker_process, args=(job, index, count, ready, results))
        for index, count in enumerate(threads)
    ]
    try:
        for process in processes:
            process.start()
        gathered = [_next_result(results, processes) for _ in processes]
        for process in processes:
            process.join()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join()
    succeeded: list[ResultT] = []
    for result in gathered:
        if isinstance(result, str):
            raise RuntimeError(f"a worker process failed:\n{result}")
        succeeded.append(result)
    return succeeded


def _next_result(results: Queue[ResultT | str], processes: list[BaseProcess]) -> ResultT | str:
    """The next result from the queue, failing instead of waiting forever when a worker
    process died without sending one."""
    while True:
        try:
            return results.get(timeout=1.0)
        except Empty:
            dead = [p for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"worker process exited with code {dead[0].exitcode}") from None


@dataclass(frozen=True)
class Latency:
    """Milliseconds."""

    p50: float
    p99: float
    mean: float
    count: int

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        if not seconds:
            return cls(math.nan, math.nan, math.nan, 0)
        ms = np.asarray(seconds) * 1000.0
        p50, p99 = np.percentile(ms, [50, 99])
        return cls(float(p50), float(p99), float(ms.mean()), len(ms))


@contextmanager
def sqlite_database(directory: Path, label: str) -> Iterator[str]:
    """A fresh SQLite file; the temporary directory removes it."""
    yield f"sqlite:///{directory / f'{label}.db'}"


@contextmanager
def postgres_database(admin_url: str, label: str) -> Iterator[str]:
    """A fresh PostgreSQL database, created from the admin connection and dropped
    (connections and all) on the way out."""
    name = f"hpo_bench_{label}_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            url = sqlalchemy.make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
            yield url.render_as_string(hide_password=False)
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def postgres_reachable(admin_url: str) -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        with psycopg.connect(admin_url, connect_timeout=5):
            return None
    except psycopg.Error as error:
        return " ".join(str(error).split())


@contextmanager
def coordinator(
    db_url: str,
    log_path: Path,
    console: Console,
    log_level: str = "WARNING",
    options: Sequence[str] = (),
) -> Iterator[str]:
    """Start ``hpo serve`` on a free port (with more ``options`` of its command line) and
    yield its address, read from the first line it prints; SIGTERM it on the way out. Its
    warnings and errors are shown afterwards, because errors the clients saw are explained
    there."""
    command = [sys.executable, "-m", "hpo", "serve", "--db", db_url]
    command += ["--host", "127.0.0.1", "--port", "0", "--log-level", log_level, *options]
    with (
        log_path.open("w") as log,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True) as server,
    ):
        try:
            line = server.stdout.readline() if server.stdout else ""
            prefix = "hpo coordinator listening on "
            if not line.startswith(prefix):
                raise RuntimeError(f"hpo serve did not start: {line!r}\n{log_path.read_text()}")
            yield line.removeprefix(prefix).split()[0]
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    lines = [line for line in log_path.read_text().splitlines() if " DEBUG " not in line]
    if lines:
        console.print(f"[yellow]coordinator log ({len(lines)} lines), last lines:[/]")
        console.print("\n".join(lines[-20:]), markup=False, highlight=False)


def create_hpo_study(address: str, name: str, algorithm: str = "asha") -> None:
    """The benchmark's study: promotion-type (hpo's default), no trial budget."""
    with Client(address) as client:
        client.create_study(
            name, SPACE, r_min=R_MIN, r_max=R_MAX, eta=ETA, max_trials=0, algorithm=algorithm
        )


FIT_LINE = re.compile(r"study (\S+): fit \d+ on (\d+) results took ([0-9.]+) s")


def fit_seconds(log_path: Path, study: str, min_results: int) -> tuple[float, ...]:
    """Durations of the study's fits on at least ``min_results`` results, from the
    coordinator's DEBUG log (hpo.coordinator.fit_process logs each fit)."""
    return tuple(
        float(match.group(3))
        for match in FIT_LINE.finditer(log_path.read_text())
        if match.group(1) == study and int(match.group(2)) >= min_results
    )


def ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def store_list(text: str) -> list[str]:
    values = [part.strip() for part in text.split(",") if part.strip()]
    unknown = set(values) - set(STORES)
    if not values or unknown:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(STORES)}")
    return values
