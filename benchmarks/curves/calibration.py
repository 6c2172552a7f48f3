"""Calibration of ``hpo.curves.predict_at``: does it rank trials better than their rung value,
and do its 80% intervals cover 80%?

For each curve set (``benchmarks/curves/sources.py``) and each horizon (a rung level below
r_max), every configuration's curve up to the horizon is extrapolated to r_max, reported in one of
two ways: every resource unit (``epochs``: 1, 2, ..., h) or only at the rung levels (``rungs``:
1, 3, 9, ..., h, what the quality benchmark's simulator reports). Per set, horizon and way:

* ``coverage``: the fraction of configurations whose true value at r_max lies in the central
  80% interval of the prediction (ideal 0.80);
* ``below_q10``, ``below_q05`` and ``above_q90``: the fraction whose true value lies below the
  predicted 10% and 5% quantiles and above the 90% one (ideal 0.10, 0.05 and 0.10). A stopping
  rule "stop when P(value at r_max < threshold) < 0.05" stops a trial that would have beaten
  the threshold about ``below_q05`` of the time;
* ``spearman_predicted`` and ``spearman_rung``: the rank correlation with the true values at r_max
  of the predicted means, and of the values at the horizon (what a rung ranks by);
* ``mae_predicted`` and ``mae_rung``: the mean absolute error of either as a guess of the value
  at r_max;
* the median and 95th percentile of the time per prediction, and how many predictions each
  method made (``ensemble``, or the ``last-value`` and ``constant`` fallbacks).

    python -m benchmarks.curves.calibration               # every set not measured yet
    python -m benchmarks.curves.calibration --force lc-crossing
    python -m benchmarks.curves.calibration --tune        # fit the sd constants (tuning set only)

Results go to ``benchmarks/curves/results/<set>.json`` (and ``timing.json``); the markdown table
of every result file is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import linprog
from scipy.stats import spearmanr

from benchmarks.curves import sources
from hpo.curves import predict_at
from hpo.curves.predict import MIN_POINTS, ensemble, two_point_spread
from hpo.curves.spread import SideConstants, SpreadConstants, own_uncertainty, side_scale

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPORTS = ("epochs", "rungs")
Z80 = 1.2815515655446004  # the 90% quantile of the standard normal
Z05 = 1.6448536269514722  # its 95% quantile
TIMING_POINTS = (3, 9, 27, 81)


def observed_columns(curves: sources.CurveSet, horizon: int, reports: str) -> np.ndarray:
    """Indices of the columns (resources - 1) reported up to ``horizon``."""
    if reports == "epochs":
        return np.arange(horizon)
    return np.array([level - 1 for level in curves.horizons + [curves.r_max] if level <= horizon])


def evaluate(curves: sources.CurveSet) -> dict[str, Any]:
    """Every measure of the module docstring, per way of reporting and horizon."""
    resources = np.arange(1, curves.r_max + 1, dtype=float)
    rows = []
    for reports in REPORTS:
        for horizon in curves.horizons:
            columns = observed_columns(curves, horizon, reports)
            means, quantiles, seconds, methods = [], [], [], Counter()
            for values in curves.observed[:, columns]:
                start = time.perf_counter()
                prediction = predict_at(resources[columns], values, curves.r_max)
                seconds.append(time.perf_counter() - start)
                means.append(prediction.mean)
                quantiles.append([prediction.quantile(q) for q in (0.05, 0.1, 0.9)])
                methods[prediction.method] += 1
            mean = np.array(means)
            q05, q10, q90 = np.array(quantiles).T
            rung = curves.observed[:, horizon - 1]
            truth = curves.truth
            rows.append(
                {
                    "reports": reports,
                    "horizon": horizon,
                    "points": len(columns),
                    "methods": dict(sorted(methods.items())),
                    "coverage": float(np.mean((q10 <= truth) & (truth <= q90))),
                    "below_q10": float(np.mean(truth < q10)),
                    "below_q05": float(np.mean(truth < q05)),
                    "above_q90": float(np.mean(truth > q90)),
                    "spearman_predicted": _spearman(mean, truth),
                    "spearman_rung": _spearman(rung, truth),
                    "mae_predicted": float(np.mean(np.abs(mean - truth))),
                    "mae_rung": float(np.mean(np.abs(rung - truth))),
                    "ms_median": 1e3 * float(np.median(seconds)),
                    "ms_p95": 1e3 * float(np.quantile(seconds, 0.95)),
                }
            )
    role = "tuning" if curves.name == sources.TUNING else "held out"
    return {"set": curves.name, "role": role, "configurations": len(curves.truth), "rows": rows}


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(spearmanr(a, b).statistic)


def timing(curves: sources.CurveSet) -> dict[str, Any]:
    """Time per call on curves of 3, 9, 27 and 81 points (every resource unit), predicting at
    three times the last resource."""
    out = {}
    for points in TIMING_POINTS:
        resources = np.arange(1, points + 1, dtype=float)
        seconds = []
        for values in curves.observed[:, :points]:
            start = time.perf_counter()
            predict_at(resources, values, 3.0 * points)
            seconds.append(time.perf_counter() - start)
        out[str(points)] = {
            "ms_median": 1e3 * float(np.median(seconds)),
            "ms_p95": 1e3 * float(np.quantile(seconds, 0.95)),
        }
    return {"set": curves.name, "calls_per_size": len(curves.truth), "points": out}


# --- tuning -------------------------------------------------------------------------------------


def tuning_errors() -> list[tuple[str, np.ndarray]]:
    """Per (reports, horizon) group of the tuning set with two points or more: the rows
    (normalised error of the point prediction, B, N, M, S, n), one column per curve."""
    curves = sources.load(sources.TUNING)
    resources = np.arange(1, curves.r_max + 1, dtype=float)
    groups = []
    for reports in REPORTS:
        for horizon in curves.horizons:
            columns = observed_columns(curves, horizon, reports)
            if len(columns) < 2:
                continue
            x = resources[columns] / resources[columns][-1]
            t = curves.r_max / resources[columns][-1]
            rows = []
            for values, truth in zip(curves.observed[:, columns], curves.truth, strict=True):
                unit = float(np.ptp(values))
                if unit == 0.0:
                    continue
                z = (values - values[-1]) / unit
                spread = ensemble(x, z, t) if len(columns) >= MIN_POINTS else two_point_spread(x, t)
                error = (truth - values[-1]) / unit - spread.median
                rows.append(
                    (error, spread.between, spread.noise, spread.move, spread.span, spread.points)
                )
            groups.append((f"{reports} {horizon}", np.array(rows).T))
    return groups


def tune() -> SpreadConstants:
    """The ``SpreadConstants`` fitted on the tuning set; prints the coverage they give.

    Each half of the distribution gets its own linear quantile regression (an exact linear
    program): the 90% quantile of log(how far the truth fell below the point prediction), and of
    log(how far above it), on the log of the extrapolation span and of the number of points,
    with the log of the curve's own uncertainty ``sqrt(B + N + M^2 + RANGE_FLOOR^2)`` as an
    offset. A quantile commutes with the logarithm, so these are the truth's 10% and 90%
    quantiles; divided by the normal's 90% quantile they are the half normals' scales. Two-point
    curves (the fallback) take part with their own parts.

    Below, the scale grows with the span and shrinks with the points (what a long extrapolation
    misses is a drop the curve cannot show yet). Above, it is a multiple of the curve's own
    uncertainty only: fitted there, both powers came out negative, an upper half that would
    widen without bound as the target nears r_last.
    """
    groups = tuning_errors()
    error, between, noise, move, span, points = np.concatenate([rows for _, rows in groups], 1)
    offset = np.log(own_uncertainty(between, noise, move))
    design = np.column_stack([np.ones_like(span), np.log(span), -np.log(points)])
    sides = []
    for sign, columns in ((-1.0, 3), (1.0, 1)):
        response = np.log(np.maximum(sign * error, 1e-12)) - offset
        coefficients = np.zeros(3)
        coefficients[:columns] = _quantile_regression(design[:, :columns], response, 0.9)
        intercept, span_power, points_power = coefficients
        scale = math.exp(intercept) / Z80
        sides.append(SideConstants(*(float(f"{c:.3g}") for c in (scale, span_power, points_power))))
    tuned = SpreadConstants(below=sides[0], above=sides[1])
    for name, (error, *parts) in groups:
        below = side_scale(*parts, tuned.below)
        above = side_scale(*parts, tuned.above)
        under, over = np.mean(error < -Z80 * below), np.mean(error > Z80 * above)
        tail = np.mean(error < -Z05 * below)
        print(
            f"{name}: coverage {1 - under - over:.3f} ({under:.3f} below, {over:.3f} above), "
            f"{tail:.3f} below the 5% quantile, of {len(error)} curves"
        )
    return tuned


def _quantile_regression(design: np.ndarray, response: np.ndarray, q: float) -> np.ndarray:
    """The coefficients b minimising the pinball loss of ``response - design @ b`` at ``q``."""
    rows, columns = design.shape
    identity = sparse.identity(rows, format="csr")
    # Variables: b = b_plus - b_minus, and each residual = above - below (all non-negative).
    equalities = sparse.hstack([design, -design, identity, -identity], format="csr")
    cost = np.concatenate([np.zeros(2 * columns), np.full(rows, q), np.full(rows, 1.0 - q)])
    solution = linprog(cost, A_eq=equalities, b_eq=response, bounds=(0, None), method="highs")
    if not solution.success:
        raise RuntimeError(f"quantile regression failed: {solution.message}")
    return solution.x[:columns] - solution.x[columns : 2 * columns]


# --- output -------------------------------------------------------------------------------------


def table(results: list[dict[str, Any]]) -> str:
    """The markdown table of calibration results."""
    lines = [
        "| set | role | reports | horizon | points | coverage 80% | below q10 | below q05 | "
        "above q90 | Spearman predicted | Spearman rung | MAE predicted | MAE rung | ms p50 | "
        "ms p95 |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        for row in result["rows"]:
            lines.append(
                f"| {result['set']} | {result['role']} | {row['reports']} | {row['horizon']} | "
                f"{row['points']} | {row['coverage']:.2f} | {row['below_q10']:.2f} | "
                f"{row['below_q05']:.2f} | {row['above_q90']:.2f} | "
                f"{row['spearman_predicted']:.3f} | "
                f"{row['spearman_rung']:.3f} | {row['mae_predicted']:.4f} | "
                f"{row['mae_rung']:.4f} | {row['ms_median']:.2f} | {row['ms_p95']:.2f} |"
            )
    return "\n".join(lines)


def timing_table(result: dict[str, Any]) -> str:
    """The markdown table of the time per call."""
    lines = ["| points | ms p50 | ms p95 |", "|---:|---:|---:|"]
    for points, row in result["points"].items():
        lines.append(f"| {points} | {row['ms_median']:.2f} | {row['ms_p95']:.2f} |")
    return "\n".join(lines)


def _write(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="*", default=list(sources.NAMES), help="curve sets")
    parser.add_argument("--force", action="store_true", help="measure sets already measured")
    parser.add_argument("--tune", action="store_true", help="fit the sd constants and stop")
    arguments = parser.parse_args()
    if arguments.tune:
        print(tune())
        return
    for name in arguments.sets:
        path = RESULTS_DIR / f"{name}.json"
        if path.exists() and not arguments.force:
            print(f"{name}: {path} exists (--force measures it again)")
            continue
        started = time.monotonic()
        _write(path, evaluate(sources.load(name)))
        print(f"{name}: measured in {time.monotonic() - started:.0f} s", flush=True)
    timing_path = RESULTS_DIR / "timing.json"
    if arguments.force or not timing_path.exists():
        _write(timing_path, timing(sources.load(sources.TUNING)))
    results = [
        json.loads((RESULTS_DIR / f"{name}.json").read_text())
        for name in sources.NAMES
        if (RESULTS_DIR / f"{name}.json").exists()
    ]
    print(table(results))
    print()
    print(timing_table(json.loads(timing_path.read_text())))


if __name__ == "__main__":
    main()
