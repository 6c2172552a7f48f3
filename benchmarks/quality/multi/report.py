"""The report: per problem, each method's mean ± standard error over seeds at each checkpoint,
as Markdown; the best mean at half the budget is in bold.

Built from the result files alone, so it can be rebuilt at any time and a partial grid reports
what it has. Runs made with another budget or worker count get tables of their own.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from benchmarks.quality.multi.methods import METHODS
from benchmarks.quality.multi.metrics import CHECKPOINTS, QUARTERS
from benchmarks.quality.multi.problems import PROBLEM_NAMES

SHOWN = (0.25, 0.5, 1.0)
BEST_AT = "0.5"


def load(root: Path) -> list[dict]:
    """Every result file under ``root`` (``<problem>/<method>/seed<N>.json``)."""
    return [json.loads(path.read_text()) for path in sorted(root.glob("*/*/seed*.json"))]


def mean_error(values: Sequence[float | None]) -> tuple[float, float] | None:
    """Mean and standard error of the values given (``None``s left out); None if none."""
    present = np.array([value for value in values if value is not None], dtype=float)
    if not len(present):
        return None
    error = present.std(ddof=1) / math.sqrt(len(present)) if len(present) > 1 else 0.0
    return float(present.mean()), float(error)


def _text(figure: tuple[float, float] | None, digits: int, bold: bool = False) -> str:
    if figure is None:
        return "-"
    mean, error = figure
    text = f"{mean:.{digits}f} ± {error:.{digits}f}"
    return f"**{text}**" if bold else text


def _kind(metrics: dict) -> str:
    if "hypervolume" in metrics:
        return "pareto"
    return "cost" if "mean_rate" in metrics else "constrained"


def _table(runs_by_method: dict[str, list[dict]], kind: str) -> list[str]:
    """One problem's table (one budget and worker count)."""
    main = "hypervolume" if kind == "pareto" else "regret"
    better: Callable[[float, float], bool] = (
        (lambda a, b: a > b) if kind == "pareto" else (lambda a, b: a < b)
    )
    digits = 4 if kind == "pareto" else 3
    figures = {
        method: {
            key: mean_error([run["metrics"][main][key] for run in runs])
            for key in (f"{fraction:g}" for fraction in CHECKPOINTS)
        }
        for method, runs in runs_by_method.items()
    }
    best = None
    for method, figure in figures.items():
        at = figure[BEST_AT]
        if at is not None and (best is None or better(at[0], figures[best][BEST_AT][0])):
            best = method
    extra_name, extra_key = {
        "pareto": ("", ""),
        "constrained": ("infeasible share of proposals, by quarter", "infeasible_share"),
        "cost": ("mean cost rate of proposals, by quarter", "mean_rate"),
    }[kind]
    axis = "of the cost budget" if kind == "cost" else "of the time limit"
    header = ["method", "seeds", *(f"{main} at {fraction:.0%} {axis}" for fraction in SHOWN)]
    if extra_key:
        header.append(extra_name)
    header += ["trials", "r_max results", "s a run"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for method, runs in runs_by_method.items():
        cells = [method, str(len(runs))]
        for fraction in SHOWN:
            key = f"{fraction:g}"
            text = _text(figures[method][key], digits, bold=method == best and key == BEST_AT)
            if kind != "pareto":  # regret 1.0 stands in for "no answer yet": say how often
                answered = sum(run["metrics"]["value"][key] is not None for run in runs)
                text += f" ({answered}/{len(runs)})" if answered < len(runs) else ""
            cells.append(text)
        if extra_key:
            quarters = [
                mean_error([run["metrics"][extra_key][q] for run in runs]) for q in range(QUARTERS)
            ]
            cells.append(" / ".join("-" if q is None else f"{q[0]:.2f}" for q in quarters))
        for key in ("trials", "r_max_results"):
            counts = mean_error([run["metrics"][key] for run in runs])
            cells.append("-" if counts is None else f"{counts[0]:.0f}")
        seconds = mean_error([run["wall_seconds"] for run in runs])
        cells.append("-" if seconds is None else f"{seconds[0]:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(results: list[dict]) -> str:
    """Every problem's tables, in the benchmark's order of problems and methods."""
    groups: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        cell = result["cell"]
        groups[(cell["problem"], cell["budget"], cell["workers"])][cell["method"]].append(result)
    order = {name: index for index, name in enumerate(PROBLEM_NAMES)}
    methods = list(METHODS)
    sections = []
    for key in sorted(groups, key=lambda k: (order.get(k[0], len(order)), k[0], k[1], k[2])):
        problem, budget, workers = key
        by_method = dict(
            sorted(
                groups[key].items(),
                key=lambda item: methods.index(item[0]) if item[0] in methods else len(methods),
            )
        )
        first = next(iter(by_method.values()))[0]
        kind = _kind(first["metrics"])
        title = f"### {problem} (budget {budget:g} r_max, {workers} workers)"
        if kind == "pareto":
            title += f": true front's hypervolume {first['metrics']['best_hypervolume']:.4f}"
        elif "optimum" in first["metrics"]:
            title += f": optimum {first['metrics']['optimum']:.4g}"
        sections.append("\n".join([title, "", *_table(by_method, kind)]))
    notes = (
        "Mean ± standard error over seeds; in bold, the best mean at half the budget. Regret is "
        "normalised (0: the feasible optimum, 1: the median random feasible configuration) and "
        "is 1 until a run has an answer trained to r_max (feasible, on `constrained`); "
        "(k/n): k of the n runs had one then. Hypervolume: of the true values of every "
        "configuration trained to r_max, objectives normalised by fixed bounds, reference "
        "point (1.1, 1.1)."
    )
    return "\n\n".join([notes, *sections]) + "\n"
