"""Time to a target regret with a good prior, a bad prior and none (gp-hyperband).

The target of a problem is the regret that gp-hyperband without a prior holds,
in the median over seeds, at half of the budget. A run's time to target is the
first simulated moment its answer is at or below it, as a fraction of the
budget; a run that never gets there counts the whole budget (censored, and
counted). The prior's speed-up is the mean time without a prior over the mean
time with it.

The acceptance goals (a good prior at least GOAL_SPEEDUP times faster, a bad one
at most GOAL_SLOWDOWN times slower) are judged per problem, with a count of the
problems that meet each, and over all problems by the geometric mean: a mean can
hide one problem where a bad prior costs much more.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.quality.runs import regret_at

BASELINE = "gp-hyperband"
GOOD = "gp-hyperband+good-prior"
BAD = "gp-hyperband+bad-prior"
TARGET_FRACTION = 0.5
# Acceptance: a good prior at least this much faster, a bad one at most this much slower.
GOAL_SPEEDUP = 2.0
GOAL_SLOWDOWN = 1.3


def time_to_target(result: dict, target: float) -> tuple[float, bool]:
    """The fraction of the budget at which ``result``'s r_max answer first held regret <=
    ``target``, and whether it did at all (if not, 1.0)."""
    steps = result["answers"]["r_max"]
    for moment, regret in zip(steps["times"], steps["regrets"], strict=True):
        if regret <= target:
            return moment / result["time_limit"], True
    return 1.0, False


def summarise_priors(results: list[dict], problems: Sequence[str]) -> dict:
    runs: dict[tuple[str, str], list[dict]] = {}
    for result in results:
        runs.setdefault((result["cell"]["problem"], result["cell"]["method"]), []).append(result)
    summary: dict = {}
    for problem in problems:
        baseline = runs.get((problem, BASELINE), [])
        if not baseline:
            continue
        target = float(np.median([regret_at(run, TARGET_FRACTION) for run in baseline]))
        entry: dict = {"target_regret": target}
        for method in (BASELINE, GOOD, BAD):
            times = [time_to_target(run, target) for run in runs.get((problem, method), [])]
            if times:
                entry[method] = {
                    "mean_time": float(np.mean([t for t, _ in times])),
                    "reached": sum(reached for _, reached in times),
                    "runs": len(times),
                }
        if GOOD in entry:
            entry["speedup_good"] = entry[BASELINE]["mean_time"] / entry[GOOD]["mean_time"]
            entry["good_pass"] = bool(entry["speedup_good"] >= GOAL_SPEEDUP)
        if BAD in entry:
            entry["slowdown_bad"] = entry[BAD]["mean_time"] / entry[BASELINE]["mean_time"]
            entry["bad_pass"] = bool(entry["slowdown_bad"] <= GOAL_SLOWDOWN)
        summary[problem] = entry
    entries = list(summary.values())
    for key in ("speedup_good", "slowdown_bad"):
        ratios = [entry[key] for entry in entries if key in entry]
        if ratios:
            summary[f"geomean_{key}"] = float(math.exp(np.mean(np.log(ratios))))
    for key in ("good_pass", "bad_pass"):
        verdicts = [entry[key] for entry in entries if key in entry]
        if verdicts:
            summary[f"{key}_count"] = {"passed": sum(verdicts), "problems": len(verdicts)}
    return summary


def _verdict(passed: bool | None) -> str:
    return "-" if passed is None else "PASS" if passed else "FAIL"


def print_priors(summary: dict, console: Console) -> None:
    table = Table(
        title=f"time to the target regret (gp-hyperband's median at {TARGET_FRACTION:.0%} of the "
        "budget), as a fraction of the budget; runs that reached it"
    )
    for column in ("problem", "target", "no prior", "good prior", "bad prior", "good: x faster",
                   f"good >= {GOAL_SPEEDUP:g}x", "bad: x slower",
                   f"bad <= {GOAL_SLOWDOWN:g}x"):  # fmt: skip
        table.add_column(column, justify="right")
    for problem, entry in summary.items():
        if not isinstance(entry, dict) or "target_regret" not in entry:
            continue

        def cell(method: str, entry: dict = entry) -> str:
            if method not in entry:
                return "-"
            figures = entry[method]
            return f"{figures['mean_time']:.3f} ({figures['reached']}/{figures['runs']})"

        table.add_row(
            problem,
            f"{entry['target_regret']:.4f}",
            cell(BASELINE),
            cell(GOOD),
            cell(BAD),
            f"{entry.get('speedup_good', math.nan):.2f}",
            _verdict(entry.get("good_pass")),
            f"{entry.get('slowdown_bad', math.nan):.2f}",
            _verdict(entry.get("bad_pass")),
        )
    console.print(table)
    good_passes, bad_passes = summary.get("good_pass_count"), summary.get("bad_pass_count")
    if good_passes is not None:
        console.print(
            f"per problem: a good prior reached the target at least {GOAL_SPEEDUP:g}x faster on "
            f"{good_passes['passed']} of {good_passes['problems']} problems"
        )
    if bad_passes is not None:
        console.print(
            f"per problem: a bad prior was at most {GOAL_SLOWDOWN:g}x slower on "
            f"{bad_passes['passed']} of {bad_passes['problems']} problems"
        )
    good = summary.get("geomean_speedup_good")
    bad = summary.get("geomean_slowdown_bad")
    if good is not None and bad is not None:
        console.print(
            f"geometric mean over problems: a good prior reaches the target {good:.2f}x faster "
            f"(goal >= {GOAL_SPEEDUP:g}x: {'PASS' if good >= GOAL_SPEEDUP else 'FAIL'}); a bad "
            f"prior {bad:.2f}x slower (goal <= {GOAL_SLOWDOWN:g}x: "
            f"{'PASS' if bad <= GOAL_SLOWDOWN else 'FAIL'})"
        )
