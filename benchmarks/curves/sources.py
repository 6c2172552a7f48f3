"""The curve sets the calibration benchmark evaluates ``hpo.curves`` on.

* ``synthetic-tuning``: random curves of this module's own generator. The ONLY set the predictive
  sd's constants are tuned on (``python -m benchmarks.curves.calibration --tune``).
* ``rank-reversal`` and ``lc-crossing``: the quality benchmark's crossing-curve problems
  (``benchmarks/quality/curves.py``), observed with their noise, judged against their noise-free
  value at r_max. Held out.
* ``mlp-digits-loss``, ``mlp-digits-error`` and ``mlp-cancer-loss``: real curves, scikit-learn's
  ``MLPClassifier`` trained with ``partial_fit`` on the digits and the breast cancer data sets, the
  validation log loss (and error rate) after each epoch, judged against the observed value at
  r_max. Held out. Training takes about six minutes on the project's 2-core machine (one core
  used); the curves are cached in ``benchmarks/curves/.cache/`` (not committed).

Every set is a matrix of values, one row per configuration and one column per resource 1, 2, ...,
r_max (every resource unit reported), and the true value at r_max of each row.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
TUNING = "synthetic-tuning"
PROBLEMS = ("rank-reversal", "lc-crossing")
REAL = ("mlp-digits-loss", "mlp-digits-error", "mlp-cancer-loss")
NAMES = (TUNING, *PROBLEMS, *REAL)
SEED = 0
CONFIGS = 400  # per synthetic or problem set
MLP_CONFIGS = 100
MLP_EPOCHS = 27


@dataclass(frozen=True)
class CurveSet:
    """Observed curves at resources ``1..r_max`` (rows: configurations) and true final values."""

    name: str
    observed: np.ndarray  # (configurations, r_max)
    truth: np.ndarray  # (configurations,)
    eta: int

    @property
    def r_max(self) -> int:
        return self.observed.shape[1]

    @property
    def horizons(self) -> list[int]:
        """The rung levels below r_max (r_min = 1): where a decision extrapolates from."""
        levels = [self.eta**k for k in range(int(math.log(self.r_max, self.eta) + 1e-9) + 1)]
        return [level for level in levels if level < self.r_max]


def load(name: str) -> CurveSet:
    """The curve set called ``name`` (one of ``NAMES``)."""
    if name == TUNING:
        return synthetic_tuning()
    if name in PROBLEMS:
        return problem_curves(name)
    if name in REAL:
        return mlp_curves(name)
    raise ValueError(f"unknown curve set {name!r}; the sets are {', '.join(NAMES)}")


# --- the tuning set -----------------------------------------------------------------------------


def synthetic_tuning(configs: int = CONFIGS, r_max: int = 81) -> CurveSet:
    """Random curves of five shapes, with noise; the truth is the noise-free value at r_max.

    Shapes (an equal share each): a power law with an offset, an exponential, a sigmoid in log r
    (flat, then a drop that may come late), a stretched exponential, and a power law that turns
    back up (overfitting). Levels, amplitudes, rates and noise (0.01% to 5% of the amplitude,
    Student-t with 3 degrees of freedom, so with the odd spike) are drawn at random.
    """
    rng = np.random.default_rng(SEED)
    r = np.arange(1, r_max + 1, dtype=float)
    observed = np.empty((configs, r_max))
    truth = np.empty(configs)
    for row in range(configs):
        level = rng.uniform(-1.0, 1.0)
        amplitude = math.exp(rng.uniform(math.log(0.05), math.log(2.0)))
        shape = row % 5
        if shape == 0:
            curve = (r + rng.uniform(0, 5)) ** -rng.uniform(0.2, 1.5)
        elif shape == 1:
            curve = np.exp(-r / math.exp(rng.uniform(math.log(2), math.log(60))))
        elif shape == 2:
            middle = math.exp(rng.uniform(0.0, math.log(60)))
            curve = 1.0 / (1.0 + (r / middle) ** rng.uniform(1.0, 4.0))
        elif shape == 3:
            scale = math.exp(rng.uniform(0.0, math.log(60)))
            curve = np.exp(-((r / scale) ** rng.uniform(0.3, 1.0)))
        else:
            rise = rng.uniform(0.0, 0.3) * np.maximum(np.log(r / rng.uniform(3, 40)), 0.0) ** 2
            curve = r ** -rng.uniform(0.3, 1.5) + rise / math.log(r_max) ** 2
        clean = level + amplitude * curve
        noise = amplitude * math.exp(rng.uniform(math.log(1e-4), math.log(0.05)))
        observed[row] = clean + noise * rng.standard_t(3, r_max) / math.sqrt(3.0)
        truth[row] = clean[-1]
    return CurveSet(TUNING, observed, truth, eta=3)


# --- the quality benchmark's problems -----------------------------------------------------------


def problem_curves(name: str, configs: int = CONFIGS) -> CurveSet:
    """Random configurations of the quality benchmark's problem ``name``: its observed values at
    every resource unit, and its noise-free final value."""
    from benchmarks.quality.problems import get_problem

    problem = get_problem(name)
    rng = np.random.default_rng(SEED)
    r_max = int(problem.resource.r_max)
    sample = [problem.space.sample(rng) for _ in range(configs)]
    observed = np.array([[problem.value(c, r) for r in range(1, r_max + 1)] for c in sample])
    truth = np.array([problem.final_value(c) for c in sample])
    return CurveSet(name, observed, truth, eta=int(problem.resource.eta))


# --- real curves --------------------------------------------------------------------------------


def mlp_curves(name: str) -> CurveSet:
    """``mlp-<data>-<metric>``: validation ``metric`` ("loss" or "error") curves of random MLP
    configurations on ``data`` ("digits" or "cancer"); the truth is the observed value at the
    last epoch."""
    _, data, metric = name.split("-")
    curves = _mlp_cache(data)[metric]
    return CurveSet(name, curves, curves[:, -1].copy(), eta=3)


def _mlp_cache(data: str) -> dict[str, np.ndarray]:
    """The MLP curves on ``data``, trained now unless cached for this scikit-learn version."""
    path = CACHE_DIR / f"mlp-{data}.npz"
    fingerprint = json.dumps(
        {
            "seed": SEED,
            "configs": MLP_CONFIGS,
            "epochs": MLP_EPOCHS,
            "scikit-learn": version("scikit-learn"),
        }
    )
    if path.exists():
        with np.load(path) as cached:
            if str(cached["fingerprint"]) == fingerprint:
                return {"loss": cached["loss"], "error": cached["error"]}
    loss, error = _train_mlps(data)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.savez(path, fingerprint=np.array(fingerprint), loss=loss, error=error)
    return {"loss": loss, "error": error}


def _splits(data: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardised train and validation features and labels: digits as the quality benchmark
    splits it, breast cancer the same way (75/25, stratified, seed 0)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from benchmarks.quality.problems import digits

    if data == "digits":
        return digits()
    features, labels = load_breast_cancer(return_X_y=True)
    train_x, valid_x, train_y, valid_y = train_test_split(
        features, labels, test_size=0.25, random_state=0, stratify=labels
    )
    scaler = StandardScaler().fit(train_x)
    return scaler.transform(train_x), scaler.transform(valid_x), train_y, valid_y


def _train_mlps(data: str) -> tuple[np.ndarray, np.ndarray]:
    """Log loss (capped at that of a uniform guess, which a diverged model scores) and error
    rate on the validation split after each epoch, for MLP_CONFIGS random configurations."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from benchmarks.quality.problems import log_loss

    train_x, valid_x, train_y, valid_y = _splits(data)
    classes = np.unique(train_y)
    rng = np.random.default_rng(SEED)
    loss = np.full((MLP_CONFIGS, MLP_EPOCHS), math.log(len(classes)))
    error = np.full((MLP_CONFIGS, MLP_EPOCHS), 1.0 - 1.0 / len(classes))
    for row in range(MLP_CONFIGS):
        model = MLPClassifier(
            hidden_layer_sizes=(int(round(_log_uniform(rng, 16, 256))),),
            learning_rate_init=_log_uniform(rng, 1e-4, 0.3),
            alpha=_log_uniform(rng, 1e-6, 1e-1),
            batch_size=int(round(_log_uniform(rng, 16, 256))),
            random_state=row,
        )
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            for epoch in range(MLP_EPOCHS):
                try:
                    model.partial_fit(train_x, train_y, classes=classes)
                except ValueError:  # diverged: the rest of the curve stays at chance
                    break
                probabilities = model.predict_proba(valid_x)
                loss[row, epoch] = min(log_loss(valid_y, probabilities), loss[row, epoch])
                error[row, epoch] = float(np.mean(classes[probabilities.argmax(1)] != valid_y))
    return loss, error


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))
