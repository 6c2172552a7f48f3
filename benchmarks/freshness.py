"""Do background fits keep up? gp-hyperband over the real service with trials of a few seconds.

    python -m benchmarks.freshness                         # 4 workers, 2 s trials, 120 assignments
    python -m benchmarks.freshness --workers 8 --trial-seconds 1 --assignments 200

Starts ``hpo serve`` on a fresh SQLite file (DEBUG log), creates a gp-hyperband study of the
service benchmark's 4-D space (r_min 1, r_max 27, eta 3) and runs ``--workers`` threads, each
with its own client, that loop suggest → sleep ``--trial-seconds`` (the "training") → report
the synthetic loss at the assigned resource → complete, until ``--assignments`` assignments
were handed out. Then it reads the study and the coordinator's log and prints:

* the share of new trials that the model chose, among those started after the first
  ``--warm-results`` results (default 20), and the goal: at least 70%;
* how many results old the model behind each model-chosen trial was (its fit's data against
  the study's results when the trial was handed out);
* the fits' durations (p50, p90, max) and the suggest latency (p50, p99) against the goal of a
  p50 under 10 ms.

The portfolio (docs/algorithms.md) gives the model at most 90% of the new trials, and less when
its online check distrusts it, so the share measures the fits' pace and the model's trust
together; the output shows both the share and the staleness.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console

from benchmarks.harness import (
    ETA,
    R_MAX,
    R_MIN,
    SPACE,
    coordinator,
    fit_seconds,
    objective,
    sqlite_database,
)
from hpo.client import Client

GOAL_MODEL_SHARE = 0.70
GOAL_SUGGEST_P50_MS = 10.0
HANDOUT_LINE = re.compile(
    r"study (\S+): trial (\d+) takes a candidate of fit \d+ on (\d+) results \((\d+) now\)"
)


@dataclass
class Record:
    """What the workers saw, shared between their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    suggest_ms: list[float] = field(default_factory=list)
    # trial number -> results acknowledged (by every worker) when it was first handed out.
    started_after: dict[int, int] = field(default_factory=dict)
    results: int = 0
    assignments: int = 0


def work(address: str, study_name: str, record: Record, limit: int, seconds: float) -> None:
    """One worker: suggest, "train" for ``seconds``, report at the resource, complete."""
    with Client(address) as client:
        study = client.get_study(study_name)
        while True:
            with record.lock:
                if record.assignments >= limit:
                    return
                record.assignments += 1
            started = time.perf_counter()
            trial = study.suggest()
            elapsed = (time.perf_counter() - started) * 1000
            if trial is None:
                return
            with record.lock:
                record.suggest_ms.append(elapsed)
                if trial.resume_from == 0:
                    record.started_after.setdefault(trial.number, record.results)
            time.sleep(seconds)
            trial.report(trial.resource, objective(trial.config, trial.resource))
            trial.complete()
            with record.lock:
                record.results += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trial-seconds", type=float, default=2.0)
    parser.add_argument("--assignments", type=int, default=120)
    parser.add_argument("--warm-results", type=int, default=20)
    args = parser.parse_args()
    console = Console()
    record = Record()
    with tempfile.TemporaryDirectory(prefix="hpo-fresh-") as name:
        directory = Path(name)
        log_path = directory / "serve.log"
        with (
            sqlite_database(directory, "fresh") as url,
            coordinator(url, log_path, console, log_level="DEBUG") as address,
        ):
            study_name = "freshness"
            with Client(address) as client:
                client.create_study(
                    study_name, SPACE, r_min=R_MIN, r_max=R_MAX, eta=ETA, max_trials=0, seed=1
                )
            started = time.perf_counter()
            threads = [
                threading.Thread(
                    target=work,
                    args=(address, study_name, record, args.assignments, args.trial_seconds),
                )
                for _ in range(args.workers)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
            with Client(address) as client:
                trials = client.get_study(study_name).trials()
        log_text = log_path.read_text()
        fits = fit_seconds(log_path, study_name, 0)
    sources = {trial.number: trial.source for trial in trials}
    judged = [
        number for number, after in record.started_after.items() if after >= args.warm_results
    ]
    model = [number for number in judged if sources.get(number) == "model"]
    share = len(model) / max(1, len(judged))
    staleness = [
        int(match.group(4)) - int(match.group(3))
        for match in HANDOUT_LINE.finditer(log_text)
        if int(match.group(2)) in set(model)
    ]
    suggest_p50 = float(np.percentile(record.suggest_ms, 50))
    suggest_p99 = float(np.percentile(record.suggest_ms, 99))
    console.print(
        f"{args.workers} workers, {args.trial_seconds:g} s trials, {record.assignments} "
        f"assignments in {wall:.0f} s; {len(record.started_after)} new trials, {len(judged)} "
        f"after the first {args.warm_results} results"
    )
    console.print(
        f"model-chosen: {len(model)} of {len(judged)} ({share:.0%}); sources of those trials: "
        f"{ {s: sum(sources.get(n) == s for n in judged) for s in set(sources.values())} }"
    )
    if staleness:
        console.print(
            f"model age at hand-out (results since its fit's data): median "
            f"{statistics.median(staleness):g}, max {max(staleness)}"
        )
    if fits:
        console.print(
            f"fits: {len(fits)}, p50 {np.percentile(fits, 50):.2f} s, p90 "
            f"{np.percentile(fits, 90):.2f} s, max {max(fits):.2f} s"
        )
    console.print(f"suggest latency: p50 {suggest_p50:.1f} ms, p99 {suggest_p99:.1f} ms")
    for goal, passed in (
        (f"model-chosen share >= {GOAL_MODEL_SHARE:.0%}", share >= GOAL_MODEL_SHARE),
        (f"suggest p50 < {GOAL_SUGGEST_P50_MS:g} ms", suggest_p50 < GOAL_SUGGEST_P50_MS),
    ):
        console.print(f"{'PASS' if passed else 'FAIL'}: {goal}")


if __name__ == "__main__":
    main()
