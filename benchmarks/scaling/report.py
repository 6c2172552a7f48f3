"""The results table, rebuilt from the files in ``results/`` alone (nothing is trained).

Definitions (README.md says why):

* a configuration's **value** at the largest width is its validation loss after ``R_MAX``
  epochs, averaged over the judging seeds 0, 1, 2;
* **f\\*** is the best value on the grid (6 learning rates a decade, 12 near the best);
* the **near-optimal plateau** is every configuration whose value is at most (1 + PLATEAU)
  f\\*; its learning-rate range is the contiguous run of grid points around the best inside
  it;
* a race run reaches the **target regret** at the first budget (epochs trained) at which its
  incumbent (best value at ``R_MAX`` the study has seen, seed 0) has a value in the plateau.
  The median over seeds counts a run that never reaches it within the cap as infinite.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.scaling.family import FAMILY, LARGE_WIDTH, R_MAX, SMALL_WIDTHS
from benchmarks.scaling.runs import (
    ALGORITHMS,
    ARMS,
    PLATEAU,
    RACE_CAP,
    RACE_SEEDS,
    RESULTS,
    STOP_REGRET,
    family_path,
    plateau_threshold,
    race_path,
    read,
)

# Regret targets of the sensitivity table (the plateau's is the primary one).
TARGETS = (0.01, 0.02, PLATEAU, 0.10)
# Budgets (epochs) at which the race table shows the median regret of the incumbent.
CHECKPOINTS = (R_MAX, 3 * R_MAX, 6 * R_MAX, 10 * R_MAX, RACE_CAP)


def _lr(value: float) -> str:
    return f"{value:.3g}"


def _percent(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{100 * value:+.1f}%"


def _median(values: Sequence[float]) -> float:
    """The median, infinite values (never reached) included."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _epochs(value: float) -> str:
    return "not reached" if not math.isfinite(value) else f"{value:g}"


def plateau_range(points: list[dict[str, Any]], threshold: float) -> tuple[float, float]:
    """The learning rates of the contiguous grid points around the best within the plateau."""
    best = min(range(len(points)), key=lambda i: points[i]["mean"])
    low = high = best
    while low > 0 and points[low - 1]["mean"] <= threshold:
        low -= 1
    while high < len(points) - 1 and points[high + 1]["mean"] <= threshold:
        high += 1
    return points[low]["lr"], points[high]["lr"]


def _seed_sd(points: list[dict[str, Any]], threshold: float) -> float:
    """The pooled seed-to-seed standard deviation of one run, over the plateau's points."""
    inside = [p["values"] for p in points if p["mean"] <= threshold]
    return math.sqrt(float(np.mean([np.var(v, ddof=1) for v in inside])))


def family_section(fitted: dict[str, Any]) -> list[str]:
    lines = [
        "| width | study | trials | best trial lr | its value (seed 0) | point optimum (laws) "
        "| bootstrap sd (ln) | method | wall s | CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    points = {int(p["scale"]["width"]): p for p in fitted["fit"]["points"]}
    for width in SMALL_WIDTHS:
        result = read(family_path(width))
        point = points[width]
        spread = point["spread"]["lr"]
        lines.append(
            f"| {width} | {result['study']} | {len(result['trials'])} | "
            f"{_lr(result['best']['lr'])} | {result['best']['value']:.4f} | "
            f"{_lr(point['estimates']['lr'])} | "
            f"{'-' if spread is None else f'{spread:.2f}'} | {point['methods']['lr']} | "
            f"{result['wall_seconds']:.0f} | {result['cpu_seconds']:.0f} |"
        )
    law = fitted["fit"]["laws"]["lr"]
    exponents = ", ".join(
        f"{name} {value:+.3f} [{law['intervals'][name][0]:+.3f}, {law['intervals'][name][1]:+.3f}]"
        for name, value in law["exponents"].items()
    )
    lines += [
        "",
        f"Law of lr ({law['level']:.0%} intervals): exponents {exponents or 'none (constant)'}; "
        f"residual sd {law['residual_sd']:.3f} (ln units), {law['dof']} residual degree(s) of "
        f"freedom, leave-one-out rmse {law['loo_rmse']:.3f}.",
    ]
    for note in fitted["fit"]["notes"]:
        lines.append(f"Note from the fit: {note}")
    return lines


def transfer_section(
    fitted: dict[str, Any], grid_result: dict[str, Any], transfer_result: dict[str, Any]
) -> list[str]:
    points = grid_result["points"]
    threshold = plateau_threshold(grid_result)
    best = min(points, key=lambda p: p["mean"])
    low, high = plateau_range(points, threshold)
    lower, upper = fitted["proposal"]["intervals"]["lr"]
    estimate = fitted["proposal"]["estimates"]["lr"]
    lines = [
        f"Largest width {LARGE_WIDTH}: grid of {len(points)} learning rates x "
        f"{len(grid_result['seeds'])} seeds. Best lr {_lr(best['lr'])}, f* = "
        f"{best['mean']:.4f}; plateau (value <= {1 + PLATEAU:.2f} f* = {threshold:.4f}): "
        f"lr in [{_lr(low)}, {_lr(high)}] ({math.log10(high / low):.2f} decades); seed-to-seed "
        f"sd of one run on the plateau {_seed_sd(points, threshold):.4f} "
        f"({_seed_sd(points, threshold) / best['mean']:.1%} of f*).",
        "",
        f"Laws' proposal: lr {_lr(estimate)} (prediction interval at "
        f"{fitted['proposal']['level']:.0%}: [{_lr(lower)}, {_lr(upper)}], "
        f"extrapolation {fitted['proposal']['extrapolation']['width']:.2f} decades in width). "
        f"Best grid lr inside the interval: {'yes' if lower <= best['lr'] <= upper else 'NO'}; "
        f"proposal / best grid lr = {estimate / best['lr']:.2f} "
        f"({math.log10(estimate / best['lr']):+.2f} decades).",
        "",
        f"| configuration at width {LARGE_WIDTH} | lr | value (mean of 3 seeds) | regret vs f* "
        "| in plateau |",
        "|---|---|---|---|---|",
        f"| best of grid | {_lr(best['lr'])} | {best['mean']:.4f} | 0 | yes |",
    ]
    names = {
        "proposal": "laws' proposal",
        "naive": f"naive: best trial of width {max(SMALL_WIDTHS)}, as is",
        "interval_low": "lower end of the proposal's interval",
        "interval_high": "upper end of the proposal's interval",
    }
    for key, label in names.items():
        candidate = transfer_result["candidates"][key]
        regret = candidate["mean"] / best["mean"] - 1
        inside = "yes" if candidate["mean"] <= threshold else "NO"
        lines.append(
            f"| {label} | {_lr(candidate['lr'])} | {candidate['mean']:.4f} | "
            f"{_percent(regret)} | {inside} |"
        )
    return lines


def _incumbent_at(run: dict[str, Any], budget: int) -> float:
    """The value (mean over seeds) of the run's incumbent once ``budget`` epochs were spent;
    infinite before its first model at R_MAX. A run that ended early (its incumbent within
    ``STOP_REGRET`` of f*) keeps that incumbent."""
    value = math.inf
    for final in run["finals"]:
        if final["budget"] > budget:
            break
        if "incumbent_mean" in final:
            value = final["incumbent_mean"]
    return value


def _reached(run: dict[str, Any], target: float, best_value: float) -> float:
    """The budget at which the run's incumbent first had a regret of at most ``target``;
    infinite if it never did before the run ended (at ``STOP_REGRET`` or the cap)."""
    for final in run["finals"]:
        if final.get("incumbent_mean", math.inf) <= (1.0 + target) * best_value:
            return float(final["budget"])
    return math.inf


def _ratio(warm: float, cold: float) -> str:
    """warm / cold of two medians; a bound when the cold median is past the cap."""
    if math.isfinite(warm) and math.isfinite(cold):
        return f"{warm / cold:.2f}"
    if math.isfinite(warm):
        return f"< {warm / RACE_CAP:.2f}"
    return "-"


def _runs(algorithm: str, arm: str) -> list[dict[str, Any]]:
    paths = [race_path(algorithm, arm, seed) for seed in RACE_SEEDS]
    return [read(path) for path in paths if path.exists()]


def race_section(best_value: float) -> list[str]:
    """The primary table (target: the plateau) and the targets' sensitivity table."""
    lines = [
        "| algorithm | arm | epochs to target, per seed | median | warm / cold "
        "| first model at r_max (median) | "
        + " | ".join(f"regret @{b}" for b in CHECKPOINTS)
        + " | first trial |",
        "|---|---|---|---|---|---|" + "---|" * len(CHECKPOINTS) + "---|",
    ]
    for algorithm in ALGORITHMS:
        runs = {arm: _runs(algorithm, arm) for arm in ARMS}
        if not all(runs.values()):
            continue
        reached = {arm: [_reached(run, PLATEAU, best_value) for run in runs[arm]] for arm in ARMS}
        ratio = _ratio(_median(reached["warm"]), _median(reached["cold"]))
        for arm in ARMS:
            regrets = [
                _median([_incumbent_at(run, budget) / best_value - 1 for run in runs[arm]])
                for budget in CHECKPOINTS
            ]
            first_final = _median(
                [float(r["finals"][0]["budget"]) if r["finals"] else math.inf for r in runs[arm]]
            )
            first = runs[arm][0]["assignments"][0]
            lines.append(
                f"| {algorithm} | {arm} | {', '.join(_epochs(x) for x in reached[arm])} | "
                f"{_epochs(_median(reached[arm]))} | {ratio if arm == 'warm' else ''} | "
                f"{_epochs(first_final)} | "
                + " | ".join(_percent(r) for r in regrets)
                + f" | {first['source']} lr {_lr(first['lr'])} |"
            )
    lines += [
        "",
        "Other targets (median epochs over the seeds; in brackets how many of them reached it; "
        f"a run stops once its incumbent is within {STOP_REGRET:.0%} of f*, or at the cap):",
        "",
        "| algorithm | arm | " + " | ".join(f"regret <= {target:.0%}" for target in TARGETS) + " |",
        "|---|---|" + "---|" * len(TARGETS),
    ]
    for algorithm in ALGORITHMS:
        runs = {arm: _runs(algorithm, arm) for arm in ARMS}
        if not all(runs.values()):
            continue
        medians: dict[str, list[float]] = {}
        for arm in ARMS:
            cells = []
            medians[arm] = []
            for target in TARGETS:
                budgets = [_reached(run, target, best_value) for run in runs[arm]]
                medians[arm].append(_median(budgets))
                hits = sum(math.isfinite(b) for b in budgets)
                cells.append(f"{_epochs(medians[arm][-1])} ({hits}/{len(budgets)})")
            lines.append(f"| {algorithm} | {arm} | " + " | ".join(cells) + " |")
        lines.append(
            f"| {algorithm} | warm / cold | "
            + " | ".join(
                _ratio(warm, cold)
                for warm, cold in zip(medians["warm"], medians["cold"], strict=True)
            )
            + " |"
        )
    return lines


def time_section() -> list[str]:
    files = sorted(RESULTS.glob("*.json"))
    records = [read(path) for path in files]
    wall = sum(r.get("wall_seconds", 0.0) for r in records)
    cpu = sum(r.get("cpu_seconds", 0.0) for r in records)
    epochs = sum(r.get("epochs_computed", 0) for r in records)
    mismatches = max((r.get("nondeterministic_curves", 0) for r in records), default=0)
    dated = sorted((r["machine"]["date"], r["machine"]) for r in records if "machine" in r)
    loads = [m["load_average"][0] for _, m in dated]
    first = dated[0][1] if dated else {}
    return [
        f"Time: {wall / 60:.1f} wall-minutes, {cpu / 60:.1f} CPU-minutes (this process, the "
        f"coordinator's threads included) over {len(records)} result files; {epochs} epochs "
        f"trained. Curves that differed on retraining: {mismatches}.",
        f"Machine: {first.get('nproc')} CPUs, python {first.get('python')}, torch "
        f"{first.get('torch')} on {first.get('torch_threads')} thread; first step "
        f"{first.get('date')} (load average {first.get('load_average')}), last step "
        f"{dated[-1][0] if dated else '-'}; 1-minute load average at the steps' starts "
        f"{min(loads, default=0):.2f} to {max(loads, default=0):.2f}.",
    ]


def build() -> str:
    """The report in Markdown."""
    fitted = read(RESULTS / "laws.json")
    grid_result = read(RESULTS / "grid.json")
    transfer_result = read(RESULTS / "transfer.json")
    best_value = min(p["mean"] for p in grid_result["points"])
    race_lines = race_section(best_value)
    sections = [
        [f"## Family {FAMILY}: studies at the small widths"],
        family_section(fitted),
        ["", "## The proposal at the largest width"],
        transfer_section(fitted, grid_result, transfer_result),
        ["", f"## Warm vs cold at width {LARGE_WIDTH} (budget cap {RACE_CAP} epochs)"],
        race_lines,
        [""],
        time_section(),
    ]
    return "\n".join(line for section in sections for line in section) + "\n"


def write_report(path: Path | None = None) -> str:
    text = build()
    (path or RESULTS / "report.md").write_text(text)
    return text
