"""The quality benchmark's report: regret, ranks and the goals, rebuilt from the run files.

Every figure is computed from the stored runs (one JSON file per problem, method
and seed), so the report can be rebuilt at any time and includes every run done
so far. Methods may have different numbers of seeds (a slow peer has fewer, and
the tables say how many), so ranks are ranks of the *mean* regret: for each
problem, answer and checkpoint, methods are ranked by their mean over their
seeds; a method's rank on a problem is the mean of its ranks at 25, 50 and 100%
of the budget, and its mean rank the mean over problems of that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy.stats import rankdata

from benchmarks.quality.runs import regret_at

CHECKPOINTS = (0.25, 0.5, 1.0)
ANSWERS = ("r_max", "any")
DEFAULT = "gp-hyperband"
BASELINE = "asha"
# Problems whose low fidelities mislead (biased and noisy, or rank-reversed).
MISLEADING = ("mfh3-bad", "mfh6-bad", "rank-reversal")


@dataclass(frozen=True)
class Figure:
    """A mean over seeds and its standard error."""

    mean: float
    error: float
    seeds: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Figure:
        array = np.asarray(values, dtype=float)
        error = float(array.std(ddof=1) / math.sqrt(len(array))) if len(array) > 1 else math.nan
        return cls(float(array.mean()), error, len(array))

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.error:.3f}"


def group(results: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """Runs by (problem, method)."""
    runs: dict[tuple[str, str], list[dict]] = {}
    for result in results:
        runs.setdefault((result["cell"]["problem"], result["cell"]["method"]), []).append(result)
    return runs


def regret(runs: list[dict], fraction: float, answer: str) -> Figure:
    return Figure.of([regret_at(run, fraction, answer) for run in runs])


def problem_ranks(
    runs: dict[tuple[str, str], list[dict]], problem: str, methods: Sequence[str], answer: str
) -> dict[str, float]:
    """Each method's rank on ``problem`` (mean over the checkpoints of the rank of its mean
    regret); methods without runs there are left out."""
    present = [method for method in methods if (problem, method) in runs]
    ranks = np.zeros(len(present))
    for fraction in CHECKPOINTS:
        means = [regret(runs[(problem, method)], fraction, answer).mean for method in present]
        ranks += rankdata(means)
    return dict(zip(present, ranks / len(CHECKPOINTS), strict=True))


def summarise(results: list[dict], problems: Sequence[str], methods: Sequence[str]) -> dict:
    """Every figure of the report, as plain data (``--json`` writes it)."""
    runs = group(results)
    summary: dict = {"problems": {}, "mean_rank": {}, "goals": []}
    for problem in problems:
        entry: dict = {"methods": {}, "ranks": {}}
        for method in methods:
            method_runs = runs.get((problem, method))
            if not method_runs:
                continue
            details = [run.get("details", {}) for run in method_runs]
            entry["methods"][method] = {
                "seeds": len(method_runs),
                "regret": {
                    answer: {
                        str(fraction): regret(method_runs, fraction, answer).__dict__
                        for fraction in CHECKPOINTS
                    }
                    for answer in ANSWERS
                },
                "r_max_results": Figure.of([run["r_max_results"] for run in method_runs]).__dict__,
                "trials": Figure.of([run["trials"] for run in method_runs]).__dict__,
                "model_share": _model_share(details),
                "fit_seconds_p50": _fit_p50(details),
                "wall_seconds": Figure.of([run["wall_seconds"] for run in method_runs]).__dict__,
            }
        for answer in ANSWERS:
            entry["ranks"][answer] = problem_ranks(runs, problem, methods, answer)
        summary["problems"][problem] = entry
    for answer in ANSWERS:
        per_method: dict[str, list[float]] = {}
        for problem in problems:
            for method, rank in summary["problems"][problem]["ranks"][answer].items():
                per_method.setdefault(method, []).append(rank)
        summary["mean_rank"][answer] = {
            method: float(np.mean(ranks)) for method, ranks in per_method.items()
        }
    summary["goals"] = goals(runs, problems, methods, summary)
    return summary


def _model_share(details: list[dict]) -> float | None:
    """The share of new trials whose configuration the model chose, over the runs."""
    counts = [d["sources"] for d in details if "sources" in d]
    total = sum(sum(c.values()) for c in counts)
    return sum(c.get("model", 0) for c in counts) / total if total else None


def _fit_p50(details: list[dict]) -> float | None:
    seconds = [s for d in details for s in d.get("fit_seconds", [])]
    return float(np.median(seconds)) if seconds else None


def goals(
    runs: dict[tuple[str, str], list[dict]],
    problems: Sequence[str],
    methods: Sequence[str],
    summary: dict,
) -> list[dict]:
    """The acceptance goals of the default, judged on the r_max answer at the full budget."""
    verdicts: list[dict] = []
    ranks = summary["mean_rank"]["r_max"]
    if DEFAULT in ranks:
        best = min(ranks, key=ranks.get)
        verdicts.append(
            {
                "goal": f"{DEFAULT} has the best mean rank",
                "passed": best == DEFAULT,
                "detail": f"{DEFAULT} {ranks[DEFAULT]:.2f}, best {best} {ranks[best]:.2f}",
            }
        )
    for problem in problems:
        final = {
            method: regret(runs[(problem, method)], 1.0, "r_max")
            for method in methods
            if (problem, method) in runs
        }
        if DEFAULT not in final:
            continue
        ours = final[DEFAULT]
        if problem in MISLEADING:
            best = min(final, key=lambda method: final[method].mean)
            margin = _combined_error(ours, final[best])
            verdicts.append(
                {
                    "goal": f"{problem}: {DEFAULT} best or within one standard error of the best",
                    "passed": ours.mean <= final[best].mean + margin,
                    "detail": f"{DEFAULT} {ours}, best {best} {final[best]}",
                }
            )
        if BASELINE in final:
            margin = _combined_error(ours, final[BASELINE])
            verdicts.append(
                {
                    "goal": f"{problem}: {DEFAULT} no worse than {BASELINE} by one standard error",
                    "passed": ours.mean <= final[BASELINE].mean + margin,
                    "detail": f"{DEFAULT} {ours}, {BASELINE} {final[BASELINE]}",
                }
            )
        if "hyperband" in final and "random" in final:
            hyperband, random = final["hyperband"], final["random"]
            verdicts.append(
                {
                    "goal": f"{problem}: hyperband no worse than random search",
                    "passed": hyperband.mean <= random.mean + _combined_error(hyperband, random),
                    "detail": f"hyperband {hyperband}, random {random}",
                }
            )
    return verdicts


def _combined_error(a: Figure, b: Figure) -> float:
    """The standard error of the difference of two independent means (0 where unknown)."""
    return math.sqrt(np.nansum([a.error**2, b.error**2]))


def print_report(summary: dict, console: Console) -> None:
    for problem, entry in summary["problems"].items():
        table = Table(title=f"{problem}: normalised regret (mean ± standard error over seeds)")
        columns = ("method", "seeds", "r_max 25%", "r_max 50%", "r_max 100%", "any 100%",
                   "rank r_max", "r_max results", "trials", "model share", "fit p50 s")  # fmt: skip
        for column in columns:
            table.add_column(column, justify="right" if column != "method" else "left")
        for method, figures in entry["methods"].items():
            cells = [_figure(figures["regret"]["r_max"][str(fraction)]) for fraction in CHECKPOINTS]
            share, fit = figures["model_share"], figures["fit_seconds_p50"]
            table.add_row(
                method,
                str(figures["seeds"]),
                *cells,
                _figure(figures["regret"]["any"]["1.0"]),
                f"{entry['ranks']['r_max'][method]:.2f}",
                f"{figures['r_max_results']['mean']:.1f}",
                f"{figures['trials']['mean']:.0f}",
                "-" if share is None else f"{share:.0%}",
                "-" if fit is None else f"{fit:.2f}",
            )
        console.print(table)
    table = Table(title="mean rank over problems (lower is better; rank of the mean regret)")
    table.add_column("method")
    for answer in ANSWERS:
        table.add_column(f"answer at {answer}", justify="right")
    for method in sorted(summary["mean_rank"]["r_max"], key=summary["mean_rank"]["r_max"].get):
        table.add_row(
            method,
            *(f"{summary['mean_rank'][answer].get(method, math.nan):.2f}" for answer in ANSWERS),
        )
    console.print(table)
    for verdict in summary["goals"]:
        console.print(
            f"{'PASS' if verdict['passed'] else 'FAIL'}: {verdict['goal']} ({verdict['detail']})"
        )


def _figure(data: dict) -> str:
    return str(Figure(**data))
