"""Time to a target regret with a good prior, a near one, a bad one and none (gp-hyperband).

The target of a problem is the regret that gp-hyperband without a prior holds,
in the median over seeds, at half of the budget. A run's time to target is the
first simulated moment its answer is at or below it, as a fraction of the
budget; a run that never gets there counts the whole budget (censored, and
counted). The prior's speed-up is the mean time without a prior over the mean
time with it. The good prior is at the problem's best configuration; the near
one a little off it (``benchmarks.quality.methods.near``), so that a good
prior's figure does not rest on the exact optimum alone.

The acceptance goals (a good prior at least GOAL_SPEEDUP times faster, a bad one
at most GOAL_SLOWDOWN times slower) are judged per problem, with a count of the
problems that meet each, and over all problems by the geometric mean: a mean can
hide one problem where a bad prior costs much more.

Each problem also gets a *placebo* (:func:`placebo_failure_rate`): the no-prior
runs are split into a group that plays a prior that changes nothing and a group
that plays the baseline, and the share of splits in which the first group looks
more than GOAL_SLOWDOWN slower says how often a harmless prior would fail the
line on that problem at these run counts. The baseline sets its own target, so
the ratio leans against the prior even then.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.quality.runs import regret_at

BASELINE = "gp-hyperband"
GOOD = "gp-hyperband+good-prior"
NEAR = "gp-hyperband+near-prior"
BAD = "gp-hyperband+bad-prior"
TARGET_FRACTION = 0.5
# Acceptance: a good prior at least this much faster, a bad one at most this much slower.
GOAL_SPEEDUP = 2.0
GOAL_SLOWDOWN = 1.3
# The placebo leaves at least this many runs to play the baseline, and looks at this many
# splits at most (a seeded sample when there are more).
PLACEBO_MIN_BASELINE = 5
PLACEBO_MAX_SPLITS = 1000


def time_to_target(result: dict, target: float) -> tuple[float, bool]:
    """The fraction of the budget at which ``result``'s r_max answer first held regret <=
    ``target``, and whether it did at all (if not, 1.0)."""
    steps = result["answers"]["r_max"]
    for moment, regret in zip(steps["times"], steps["regrets"], strict=True):
        if regret <= target:
            return moment / result["time_limit"], True
    return 1.0, False


def target_regret(baseline: Sequence[dict]) -> float:
    """The regret the baseline's runs hold at TARGET_FRACTION of the budget, in the median."""
    return float(np.median([regret_at(run, TARGET_FRACTION) for run in baseline]))


def mean_time(runs: Sequence[dict], target: float) -> float:
    """The runs' mean fraction of the budget to ``target`` (a run that never got there: 1)."""
    return float(np.mean([time_to_target(run, target)[0] for run in runs]))


def placebo_failure_rate(baseline: Sequence[dict], treated: int) -> float | None:
    """The share of splits of the no-prior ``baseline`` runs into ``treated`` of them (at
    most all but PLACEBO_MIN_BASELINE) and the rest in which the first group is more than
    GOAL_SLOWDOWN times slower to the rest's target; None with too few runs to split."""
    size = min(treated, len(baseline) - PLACEBO_MIN_BASELINE)
    if size < 1:
        return None
    indices = range(len(baseline))
    if math.comb(len(baseline), size) <= PLACEBO_MAX_SPLITS:
        splits = list(itertools.combinations(indices, size))
    else:
        rng = np.random.default_rng(0)
        splits = [
            tuple(rng.choice(len(baseline), size, replace=False)) for _ in range(PLACEBO_MAX_SPLITS)
        ]
    failures = 0
    for split in splits:
        group = [baseline[i] for i in split]
        rest = [run for i, run in enumerate(baseline) if i not in split]
        target = target_regret(rest)
        failures += mean_time(group, target) > GOAL_SLOWDOWN * mean_time(rest, target)
    return failures / len(splits)


def summarise_priors(results: list[dict], problems: Sequence[str]) -> dict:
    runs: dict[tuple[str, str], list[dict]] = {}
    for result in results:
        runs.setdefault((result["cell"]["problem"], result["cell"]["method"]), []).append(result)
    summary: dict = {}
    for problem in problems:
        baseline = runs.get((problem, BASELINE), [])
        if not baseline:
            continue
        target = target_regret(baseline)
        entry: dict = {"target_regret": target}
        for method in (BASELINE, GOOD, NEAR, BAD):
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
        if NEAR in entry:
            entry["speedup_near"] = entry[BASELINE]["mean_time"] / entry[NEAR]["mean_time"]
        if BAD in entry:
            entry["slowdown_bad"] = entry[BAD]["mean_time"] / entry[BASELINE]["mean_time"]
            entry["bad_pass"] = bool(entry["slowdown_bad"] <= GOAL_SLOWDOWN)
            placebo = placebo_failure_rate(baseline, entry[BAD]["runs"])
            if placebo is not None:
                entry["placebo_failure_rate"] = placebo
        summary[problem] = entry
    entries = list(summary.values())
    for key in ("speedup_good", "speedup_near", "slowdown_bad"):
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
    for column in ("problem", "target", "no prior", "good prior", "near prior", "bad prior",
                   "good: x faster", f"good >= {GOAL_SPEEDUP:g}x", "near: x faster",
                   "bad: x slower",
                   f"bad <= {GOAL_SLOWDOWN:g}x",
                   f"placebo > {GOAL_SLOWDOWN:g}x"):  # fmt: skip
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
            cell(NEAR),
            cell(BAD),
            f"{entry.get('speedup_good', math.nan):.2f}",
            _verdict(entry.get("good_pass")),
            f"{entry.get('speedup_near', math.nan):.2f}",
            f"{entry.get('slowdown_bad', math.nan):.2f}",
            _verdict(entry.get("bad_pass")),
            f"{entry.get('placebo_failure_rate', math.nan):.2f}",
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
    console.print(
        f"placebo: the share of splits of the no-prior runs in which a prior that changes "
        f"nothing looks more than {GOAL_SLOWDOWN:g}x slower"
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
