"""The benchmark's steps, each over the real coordinator and its SQLite store, each writing
one small JSON file per study or evaluation under ``results/`` (a step whose file exists is
skipped).

1. ``family``: one random-search study per small width (``family=FAMILY``), every trial
   trained to ``R_MAX`` with training seed 0, as a practitioner with a fixed seed would.
2. ``laws``: ``FitScaling`` of the family, with its proposal at ``LARGE_WIDTH``.
3. ``grid``: the largest width's landscape: a log grid of learning rates (6 a decade, then 12
   a decade around the best), each trained with seeds 0, 1 and 2.
4. ``transfer``: the same evaluation of the laws' proposal, the ends of its prediction
   interval, and the naive transfer (the best trial of the largest family study, as is).
5. ``race``: cold and warm-started (``priors=[{"kind": "scaling", ...}]``) studies at the
   largest width, same algorithm, same seed, until a model within 1% of the best is found
   or the budget cap is spent (see :func:`race`).

Why a fixed training seed in the studies and three in the evaluations: a study sees one
training run per configuration, noise included (what its user would see); the benchmark
judges a configuration by its mean over three seeds, so a lucky seed does not count as a
good configuration.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.scaling.family import (
    FAMILY,
    LARGE_WIDTH,
    R_MAX,
    R_MIN,
    SMALL_WIDTHS,
    SPACE,
    Trainer,
    scale_of,
)
from hpo.client import Client, Trial
from hpo.coordinator.server import start_coordinator
from hpo.errors import NotFoundError

PACKAGE = Path(__file__).resolve().parent
RESULTS = PACKAGE / "results"
CACHE = PACKAGE / ".cache"
STORE = CACHE / "store.db"
CURVES = CACHE / "curves.jsonl"

FAMILY_TRIALS = 50
FAMILY_SEED = 7
# The seed every study trains with, and the seeds a configuration is judged by.
TRAIN_SEED = 0
JUDGE_SEEDS = (0, 1, 2)
# The grid: 6 learning rates a decade over the space, then 12 a decade within a quarter
# decade of the best.
GRID_PER_DECADE = 6
REFINE_STEPS = (-3, -1, 1, 3)
# A configuration within this fraction of the grid's best mean value is near-optimal.
PLATEAU = 0.05
# A race run goes on past the plateau until its incumbent is this close to the best (or the
# cap), so the report can also say when each arm reaches tighter targets.
STOP_REGRET = 0.01
ALGORITHMS = ("asha", "random")
ARMS = ("cold", "warm")
RACE_SEEDS = (0, 1, 2, 3, 4)
# The budget cap of a race run, in epochs: 20 full trainings.
RACE_CAP = 20 * R_MAX


def machine() -> dict[str, Any]:
    """The machine's state now: the results say what they were measured on."""
    load = os.getloadavg()
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "load_average": [round(x, 2) for x in load],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def write(path: Path, data: dict[str, Any]) -> None:
    """Write atomically: a file that exists is a finished step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    temporary.replace(path)


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@contextmanager
def timed(trainer: Trainer) -> Iterator[dict[str, Any]]:
    """Fill a dict with the machine at the start, the wall and CPU seconds (this process:
    the coordinator's threads included) and the epochs actually trained."""
    record: dict[str, Any] = {"machine": machine()}
    wall, cpu, epochs = time.perf_counter(), time.process_time(), trainer.epochs_trained
    yield record
    record["wall_seconds"] = round(time.perf_counter() - wall, 2)
    record["cpu_seconds"] = round(time.process_time() - cpu, 2)
    record["epochs_computed"] = trainer.epochs_trained - epochs
    record["nondeterministic_curves"] = trainer.mismatches


def work(
    trial: Trial, trainer: Trainer, width: int, on_epoch: Callable[[int, float], None]
) -> None:
    """A worker's loop for one assignment: from ``resume_from`` (the kept model) on, one
    report per epoch, until the coordinator pauses, stops or completes the trial."""
    lr = float(trial.config["lr"])
    epoch = int(trial.resume_from)
    while epoch < R_MAX:
        epoch += 1
        value = trainer.curve(width, lr, TRAIN_SEED, epoch)[-1]
        on_epoch(epoch, value)
        if trial.report(epoch, value).should_stop:
            break
    trial.complete()


def family_path(width: int) -> Path:
    return RESULTS / f"family-w{width}.json"


def _exists(client: Client, name: str) -> bool:
    try:
        client.get_study(name)
    except NotFoundError:
        return False
    return True


def family_study(client: Client, trainer: Trainer, width: int) -> dict[str, Any]:
    """Tune ``width`` by random search; every trial reaches ``R_MAX``."""
    with timed(trainer) as record:
        study = client.create_study(
            f"{FAMILY}-w{width}", SPACE, r_min=R_MIN, r_max=R_MAX, algorithm="random",
            max_trials=FAMILY_TRIALS, scale=scale_of(width), family=FAMILY, seed=FAMILY_SEED,
        )  # fmt: skip
        trials = []
        while (trial := study.suggest()) is not None:
            curve: list[float] = []
            work(trial, trainer, width, lambda _epoch, value, curve=curve: curve.append(value))
            trials.append({"number": trial.number, "lr": trial.config["lr"], "curve": curve})
    best = min(trials, key=lambda t: t["curve"][-1])
    return {
        "kind": "family",
        "study": study.name,
        "width": width,
        "scale": scale_of(width),
        "algorithm": "random",
        "max_trials": FAMILY_TRIALS,
        "seed": FAMILY_SEED,
        "train_seed": TRAIN_SEED,
        "trials": trials,
        "best": {"number": best["number"], "lr": best["lr"], "value": best["curve"][-1]},
        **record,
    }


def ensure_family(client: Client, trainer: Trainer) -> None:
    """Run the family studies whose file is missing. The store must hold every family study
    for the laws and the scaling priors: if it lacks one whose file exists (a new store), the
    study is run again, from the curve cache, and must give the file's numbers."""
    for width in SMALL_WIDTHS:
        path = family_path(width)
        if path.exists() and _exists(client, f"{FAMILY}-w{width}"):
            continue
        result = family_study(client, trainer, width)
        if path.exists():
            kept = read(path)
            if [t["curve"] for t in kept["trials"]] != [t["curve"] for t in result["trials"]]:
                raise RuntimeError(f"{path.name}: rebuilding the store gave other results")
            continue
        write(path, result)
        print(f"family w={width}: best lr {result['best']['lr']:.4g} "
              f"value {result['best']['value']:.4f} ({result['wall_seconds']:.0f} s)")  # fmt: skip


def laws(client: Client, trainer: Trainer) -> dict[str, Any]:
    """The family's laws and their proposal at the largest width, as the server answers."""
    path = RESULTS / "laws.json"
    if path.exists():
        return read(path)
    with timed(trainer) as record:
        answer = client.fit_scaling(FAMILY, scale_of(LARGE_WIDTH))
    result = {
        "kind": "laws",
        "family": FAMILY,
        "target": scale_of(LARGE_WIDTH),
        "fit": answer.fit,
        "config": answer.config,
        "proposal": answer.proposal,
        **record,
    }
    write(path, result)
    print(f"laws: proposal {answer.config} interval {answer.proposal['intervals']}")  # type: ignore[index]
    return result


def judge(trainer: Trainer, lr: float) -> dict[str, Any]:
    """A configuration at the largest width: its value at ``R_MAX`` for each judging seed."""
    values = trainer.mean_final(LARGE_WIDTH, lr, JUDGE_SEEDS)
    return {"lr": lr, "values": values, "mean": float(np.mean(values))}


def grid(trainer: Trainer) -> dict[str, Any]:
    """The largest width's landscape over the learning rate (module docstring)."""
    path = RESULTS / "grid.json"
    if path.exists():
        return read(path)
    parameter = SPACE["lr"]
    low, high = math.log10(parameter.low), math.log10(parameter.high)  # type: ignore[union-attr]
    steps = round((high - low) * GRID_PER_DECADE)
    with timed(trainer) as record:
        points = [judge(trainer, 10 ** (low + k / GRID_PER_DECADE)) for k in range(steps + 1)]
        best = min(points, key=lambda p: p["mean"])
        for step in REFINE_STEPS:
            lr = best["lr"] * 10 ** (step / (2 * GRID_PER_DECADE))
            if parameter.low <= lr <= parameter.high:  # type: ignore[union-attr]
                points.append(judge(trainer, lr))
    points.sort(key=lambda p: p["lr"])
    result = {"kind": "grid", "width": LARGE_WIDTH, "seeds": list(JUDGE_SEEDS), "points": points}
    write(path, {**result, **record})
    print(f"grid: best lr {min(points, key=lambda p: p['mean'])['lr']:.4g} "
          f"({record['wall_seconds']:.0f} s)")  # fmt: skip
    return read(path)


def transfer(trainer: Trainer, fitted: dict[str, Any]) -> dict[str, Any]:
    """The proposal, its interval's ends and the naive transfer, judged at the largest
    width like the grid's points."""
    path = RESULTS / "transfer.json"
    if path.exists():
        return read(path)
    largest = read(family_path(max(SMALL_WIDTHS)))
    lower, upper = fitted["proposal"]["intervals"]["lr"]
    with timed(trainer) as record:
        candidates = {
            "proposal": judge(trainer, float(fitted["config"]["lr"])),
            "naive": judge(trainer, float(largest["best"]["lr"])),
            "interval_low": judge(trainer, max(lower, SPACE["lr"].low)),  # type: ignore[union-attr]
            "interval_high": judge(trainer, min(upper, SPACE["lr"].high)),  # type: ignore[union-attr]
        }
    result = {"kind": "transfer", "width": LARGE_WIDTH, "candidates": candidates, **record}
    write(path, result)
    return result


def best_value(grid_result: dict[str, Any]) -> float:
    """f*: the best mean value on the grid."""
    return min(p["mean"] for p in grid_result["points"])


def plateau_threshold(grid_result: dict[str, Any]) -> float:
    """The largest mean value a near-optimal configuration may have."""
    return (1.0 + PLATEAU) * best_value(grid_result)


def race_path(algorithm: str, arm: str, seed: int) -> Path:
    return RESULTS / f"race-{algorithm}-{arm}-s{seed}.json"


@dataclass
class _Incumbent:
    value: float = math.inf


def race(
    client: Client, trainer: Trainer, algorithm: str, arm: str, seed: int, optimum: float
) -> dict[str, Any]:
    """One study at the largest width, cold or warm-started from the family's laws.

    One worker trains; the budget is the epochs it trains (a promoted trial resumes from its
    model, so it pays only its new epochs). After every report at ``R_MAX`` the incumbent is
    the trial with the best value there (seed 0, what the study sees); a new incumbent is
    judged over the three seeds, and the run ends once one is within ``STOP_REGRET`` of
    ``optimum`` (f*) or the budget reaches ``RACE_CAP``. ``reached`` is when an incumbent first
    lay in the plateau; the report reads the other targets from ``finals``."""
    base = f"race-{algorithm}-{arm}-s{seed}"
    name, attempt = base, 1
    while _exists(client, name):  # an interrupted attempt left its study behind
        attempt += 1
        name = f"{base}-{attempt}"
    priors = [{"kind": "scaling", "family": FAMILY}] if arm == "warm" else []
    with timed(trainer) as record:
        study = client.create_study(
            name, SPACE, r_min=R_MIN, r_max=R_MAX, algorithm=algorithm,
            max_trials=RACE_CAP // R_MAX if algorithm == "random" else 0,
            scale=scale_of(LARGE_WIDTH), priors=priors, seed=1000 + seed,
        )  # fmt: skip
        budget = 0
        incumbent = _Incumbent()
        finals: list[dict[str, Any]] = []
        assignments: list[dict[str, Any]] = []
        threshold = (1.0 + PLATEAU) * optimum
        reached: int | None = None
        done = False
        while not done and budget < RACE_CAP:
            trial = study.suggest()
            if trial is None:
                break
            start = budget
            lr = float(trial.config["lr"])

            def on_epoch(epoch: int, value: float, lr: float = lr, trial: Trial = trial) -> None:
                nonlocal budget, reached, done
                budget += 1
                if epoch < R_MAX:
                    return
                final: dict[str, Any] = {"budget": budget, "trial": trial.number, "lr": lr,
                                         "value": value}  # fmt: skip
                if value < incumbent.value:
                    incumbent.value = value
                    judged = judge(trainer, lr)
                    final["incumbent_mean"] = judged["mean"]
                    if judged["mean"] <= threshold and reached is None:
                        reached = budget
                    done = done or judged["mean"] <= (1.0 + STOP_REGRET) * optimum
                finals.append(final)

            work(trial, trainer, LARGE_WIDTH, on_epoch)
            assignments.append({"trial": trial.number, "lr": lr, "source": trial.record.source,
                                "from": int(trial.resume_from), "to": int(trial.resource),
                                "epochs": budget - start})  # fmt: skip
        study.stop("benchmark run over")
    return {
        "kind": "race",
        "study": name,
        "algorithm": algorithm,
        "arm": arm,
        "seed": seed,
        "study_seed": 1000 + seed,
        "cap": RACE_CAP,
        "optimum": optimum,
        "threshold": threshold,
        "stop_regret": STOP_REGRET,
        "reached": reached,
        "budget": budget,
        "finals": finals,
        "assignments": assignments,
        **record,
    }


def run_all(algorithms: tuple[str, ...] = ALGORITHMS, seeds: tuple[int, ...] = RACE_SEEDS) -> None:
    """Every step whose file is missing, in order, over one coordinator."""
    trainer = Trainer(CURVES)
    CACHE.mkdir(parents=True, exist_ok=True)
    if not all(family_path(width).exists() for width in SMALL_WIDTHS):
        # A family study without its file was interrupted: the store may hold part of it,
        # which would feed the laws. Start from an empty store (the curve cache keeps the
        # training done); the race files do not depend on the store.
        for suffix in ("", "-wal", "-shm"):
            Path(f"{STORE}{suffix}").unlink(missing_ok=True)
    running = start_coordinator(f"sqlite:///{STORE}", "127.0.0.1", 0, lease_seconds=600)
    try:
        with Client(running.address, timeout=120) as client:
            ensure_family(client, trainer)
            fitted = laws(client, trainer)
            landscape = grid(trainer)
            transfer(trainer, fitted)
            optimum = best_value(landscape)
            for algorithm in algorithms:
                for seed in seeds:
                    for arm in ARMS:
                        path = race_path(algorithm, arm, seed)
                        if path.exists():
                            continue
                        result = race(client, trainer, algorithm, arm, seed, optimum)
                        write(path, result)
                        print(f"race {algorithm} {arm} seed {seed}: reached at "
                              f"{result['reached']} of {result['budget']} epochs "
                              f"({result['wall_seconds']:.0f} s)")  # fmt: skip
    finally:
        running.stop(grace=1)
