"""``hpo demo``: a real study on the embedded SQLite store, with worker processes to watch.

It starts ``hpo serve`` on a free port, creates a study tuning an MLP on
scikit-learn's digits (epochs as the resource), starts worker processes that
run :func:`hpo.demo.digits.train` in-process (function mode: one import of
scikit-learn per worker rather than per trial), draws the study live, and
prints the best configuration and where the database is.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from rich.console import Console

from hpo import monitor
from hpo.client import Client
from hpo.space import Categorical, Float, Int

SPACE = {
    "learning_rate": Float(1e-4, 0.3, log=True),
    "units": Int(16, 256, log=True),
    "layers": Int(1, 3),
    "alpha": Float(1e-6, 1e-1, log=True),
    "batch_size": Categorical([16, 32, 64, 128]),
    "activation": Categorical(["relu", "tanh"]),
}
SERVER_START_SECONDS = 60


def start_coordinator(db: Path, log_path: Path) -> tuple[subprocess.Popen[str], str]:
    """Run ``hpo serve`` on a free port; return the process and its address."""
    log = log_path.open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "hpo", "serve", "--db", str(db), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    log.close()
    assert server.stdout is not None
    line = server.stdout.readline()
    if "listening on" not in line:
        server.kill()
        raise RuntimeError(f"the coordinator did not start; see {log_path}")
    return server, line.split("listening on ", 1)[1].split()[0]


def run_demo(*, workers: int, trials: int, db: Path, workdir: Path, live: bool = True) -> int:
    console = Console()
    db = db.resolve()
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]hpo demo[/]: trial store {db}, logs in {logs}")
    with ExitStack() as cleanup:
        server, address = start_coordinator(db, logs / "coordinator.log")
        cleanup.callback(_stop, server)
        console.print(f"coordinator listening on {address}")
        client = cleanup.enter_context(Client(address, wait_for_ready=True))
        name = f"digits-mlp-{datetime.now():%Y%m%d-%H%M%S}"
        study = client.create_study(
            name,
            SPACE,
            r_min=1,
            r_max=27,
            eta=3,
            resource_name="epochs",
            metric="validation_log_loss",
            max_trials=trials,
            description="MLP on scikit-learn's digits; resource: training epochs.",
        )
        processes = []
        for index in range(workers):
            log = (logs / f"worker-{index}.log").open("w")
            cleanup.callback(log.close)
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hpo",
                    "worker",
                    "--coordinator",
                    address,
                    "--study",
                    name,
                    "--workdir",
                    str(workdir / "trials"),
                    "--function",
                    "hpo.demo.digits:train",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            cleanup.callback(_stop, process)
            processes.append(process)
        console.print(f"study [bold]{name}[/]: {trials} configurations, {workers} workers")

        def finished(snapshot: monitor.Snapshot) -> bool:
            return snapshot.study.state == "finished" and all(
                process.poll() is not None for process in processes
            )

        if live:
            monitor.watch(client, study.name, console=console, done=finished)
        else:
            _plain_progress(client, study.name, console, finished)
        failed_workers = [process.args for process in processes if process.wait() != 0]
        best = client.get_study(name).best()
    if best is None:
        console.print("[red]no trial reported a result; see the worker logs[/]")
        return 1
    console.print(
        f"\n[bold]best configuration[/] (trial {best.trial.number}, "
        f"validation log loss {best.value:.4f} after {best.resource:g} epochs):"
    )
    console.print_json(data=best.config)
    console.print(
        f"\nEvery trial, report and decision is in [bold]{db}[/]; for example:\n"
        f'  sqlite3 {db} "SELECT number, state, rung, last_value FROM trials '
        f'WHERE study_id = {study.id} ORDER BY last_value LIMIT 5"'
    )
    return 1 if failed_workers else 0


def _plain_progress(
    client: Client, name: str, console: Console, done: Callable[[monitor.Snapshot], bool]
) -> None:
    """One line of progress every two seconds, for terminals without live redrawing."""
    while True:
        snapshot = monitor.Snapshot.fetch(client, name)
        best = f"{snapshot.best.value:.4f}" if snapshot.best else "-"
        counts = ", ".join(f"{state} {n}" for state, n in snapshot.study.counts.items() if n)
        console.print(f"trials {len(snapshot.trials)} ({counts}); best {best}")
        if done(snapshot):
            return
        time.sleep(2.0)


def _stop(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
