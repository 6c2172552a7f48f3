"""``mlp-size``: a real two-objective problem, an MLP on scikit-learn's digits judged by its
validation error and its size.

Objectives: the error rate on the 450 validation digits after ``r`` epochs of ``partial_fit``
(1 to 27 epochs), and the network's parameter count (weights and biases), known from the
configuration alone. Hypervolume is scored with the error on [0, 0.2] (a model that misses
one digit in five is no one's choice) and the parameter count on a log scale between the
smallest and the largest network of the space.

Training on demand would dominate a run, so, as the suite's ``mlp-digits``, the curves of a
grid (6 widths x 2 depths x 4 learning rates x 3 L2 penalties = 144 networks, about a minute
on one core) are trained once and cached (:class:`benchmarks.quality.problems.TabularProblem`,
``benchmarks/quality/.cache/mlp-size.npz``) and a configuration's error is interpolated
between grid points; its parameter count uses its own width. Batch size (64), activation
(ReLU) and optimiser (Adam) are fixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

import numpy as np
from sklearn.neural_network import MLPClassifier

from benchmarks.quality.multi.problems import ParetoProblem
from benchmarks.quality.problems import CLASSES, TabularProblem, epoch_curve
from hpo.space import Categorical, Config, Float, Int, ParamValue, Space
from hpo.spec import Resource

SPACE = Space(
    {
        "hidden_units": Int(8, 256, log=True),
        "layers": Categorical([1, 2]),
        "learning_rate_init": Float(1e-4, 0.3, log=True),
        "alpha": Float(1e-6, 1e-1, log=True),
    }
)
CELLS = {"hidden_units": 6, "learning_rate_init": 4, "alpha": 3}
RESOURCE = Resource(r_min=1, r_max=27, eta=3, name="epochs")
INPUTS = 64
# The error of a diverged network, which predicts one class: chance.
CHANCE_ERROR = 1 - 1 / len(CLASSES)
ERROR_BOUND = 0.2


def parameter_count(config: Mapping[str, ParamValue]) -> int:
    """Weights and biases of the network: 64 inputs, ``layers`` hidden layers, 10 outputs."""
    widths = [INPUTS, *[int(config["hidden_units"])] * int(config["layers"]), len(CLASSES)]
    return sum(n_in * n_out + n_out for n_in, n_out in zip(widths, widths[1:], strict=False))


def mlp_error_curve(config: Config, seed: int, epochs: int) -> np.ndarray:
    """Validation error rate after each of ``epochs`` epochs; chance once diverged."""
    model = MLPClassifier(
        hidden_layer_sizes=(int(config["hidden_units"]),) * int(config["layers"]),
        learning_rate_init=float(config["learning_rate_init"]),
        alpha=float(config["alpha"]),
        batch_size=64,
        random_state=seed,
    )
    return epoch_curve(model, epochs, error_rate, CHANCE_ERROR)


def error_rate(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The share of misclassified samples; chance for a diverged (non-finite) model."""
    if not np.all(np.isfinite(probabilities)):
        return CHANCE_ERROR
    return float(np.mean(np.argmax(probabilities, axis=1) != labels))


class MlpSize(ParetoProblem):
    """Validation error and parameter count of an MLP on digits (cached grid curves)."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.name = "mlp-size"
        self.space = SPACE
        self.resource = RESOURCE
        self.objectives = ("error", "params")
        smallest = {"hidden_units": 8, "layers": 1}
        largest = {"hidden_units": 256, "layers": 2}
        self.bounds = (
            (0.0, ERROR_BOUND),
            (float(parameter_count(smallest)), float(parameter_count(largest))),
        )
        self.log_scale = (False, True)
        self.curves = TabularProblem(self.name, SPACE, RESOURCE, CELLS, mlp_error_curve, cache_dir)

    def outcomes(self, config: Mapping[str, ParamValue], resource: float) -> dict[str, float]:
        self.check_resource(resource)
        return {
            "error": self.curves.value(config, resource),
            "params": float(parameter_count(config)),
        }

    def true_outcomes(self, config: Mapping[str, ParamValue]) -> dict[str, float]:
        return self.outcomes(config, self.resource.r_max)

    def prepare(self, processes: int = 2) -> None:
        """Train and cache every grid curve not cached yet."""
        self.curves.prepare(processes)

    @cached_property
    def best_hypervolume(self) -> float:
        """Exact for the interpolated table: for a given width the error is multilinear in the
        other (log-encoded) parameters, so its minimum is at a grid value; so every integer
        width with every grid value of the rest covers the whole front."""
        width = SPACE["hidden_units"]
        assert isinstance(width, Int)
        grid = [self.curves.grid_config(index) for index in range(self.curves.size)]
        others = {
            tuple((k, v) for k, v in config.items() if k != "hidden_units") for config in grid
        }
        outcomes = [
            self.true_outcomes({"hidden_units": units, **dict(rest)})
            for units in range(width.low, width.high + 1)
            for rest in others
        ]
        return self.hypervolume(outcomes)
