"""Multi-fidelity benchmark problems for the quality benchmark's simulator.

Each :class:`Problem` gives the value an optimizer would see after training a
configuration up to a resource level, and the true objective (the value at full
resource) against which regret is measured. Everything is minimised.

* ``hartmann6`` and ``branin``: BoTorch's ``AugmentedHartmann`` and
  ``AugmentedBranin`` with fidelity ``s = r / r_max``.
* ``mlp-digits`` and ``hgb-digits``: real learning curves of scikit-learn models
  on the digits data set (validation log loss per epoch or boosting iteration).
  Training is far too slow for a simulator that asks tens of thousands of
  times, so each configuration is snapped onto a finite grid and the full curve
  of every grid point is computed once and cached (``--prepare``).

The grid has ``n`` cells per numeric parameter, equally wide in the space's unit
encoding (log scale for log parameters), and the grid value of a cell is its
centre. A configuration drawn uniformly from the space therefore lands on every
grid point with the same probability, so the median over the grid is the median
of random configurations, which is what ``reference`` needs.

    python -m benchmarks.quality.problems --prepare           # compute every cached curve
    python -m benchmarks.quality.problems --check             # determinism, optima
    python -m benchmarks.quality.problems                     # optimum, reference and spread
"""

from __future__ import annotations

import argparse
import fcntl
import itertools
import json
import math
import multiprocessing
import os
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from functools import cache, cached_property
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from botorch.test_functions.multi_fidelity import AugmentedBranin, AugmentedHartmann
from botorch.test_functions.synthetic import SyntheticTestFunction
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import log_loss as sklearn_log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from hpo.space import Categorical, Config, Float, Int, Parameter, ParamValue, Space
from hpo.spec import Resource

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
SYNTHETIC_SAMPLES = 10_000
# Random configurations whose median final value is a learning-curve problem's regret 1.
REFERENCE_SAMPLES = 2_000
CLASSES = np.arange(10)
# A model worse than predicting every digit with probability 1/10 scores as that
# predictor, and so does one whose weights diverged: optimizers never see inf or
# NaN, and a few hopeless configurations do not stretch a surrogate's scale.
LOSS_CAP = math.log(len(CLASSES))


class Problem(ABC):
    """A benchmark problem: a space, a resource and a learning-curve value to minimise."""

    name: str
    space: Space
    resource: Resource

    @property
    @abstractmethod
    def optimum(self) -> float:
        """The best achievable final value."""

    @abstractmethod
    def final_values(self) -> np.ndarray:
        """Final values of configurations that stand for uniformly random ones."""

    @cached_property
    def reference(self) -> float:
        """The median final value of uniformly random configurations: normalised regret 1."""
        return float(np.median(self.final_values()))

    @abstractmethod
    def value(self, config: Mapping[str, ParamValue], resource: float) -> float:
        """The value reported after training ``config`` up to ``resource`` (deterministic)."""

    def final_value(self, config: Mapping[str, ParamValue]) -> float:
        """The true objective of ``config``: its value at full resource."""
        return self.value(config, self.resource.r_max)

    def normalized_regret(self, final: float) -> float:
        """0 at the optimum, 1 at the median random configuration."""
        return (final - self.optimum) / (self.reference - self.optimum)

    @abstractmethod
    def best_and_worst(self) -> tuple[Config, Config]:
        """A best configuration and a worst one (of the random sample or the grid): where a
        good prior and a bad prior point, in the prior benchmark."""


# --- synthetic problems -------------------------------------------------------------------------


class SyntheticProblem(Problem):
    """A BoTorch test function whose last input is a fidelity ``s = resource / r_max``
    (``s = 1``: the true function); one evaluation costs about 0.1 ms."""

    def __init__(self, name: str, function: SyntheticTestFunction) -> None:
        self.name = name
        self._function = function
        bounds = function.bounds.T[:-1].tolist()  # the last input is the fidelity
        self.space = Space({f"x{i}": Float(low, high) for i, (low, high) in enumerate(bounds)})
        self.resource = Resource(r_min=1, r_max=81, eta=3, name="fidelity units")

    @property
    def optimum(self) -> float:
        return float(self._function.optimal_value)

    def final_values(self) -> np.ndarray:
        """Final values of a fixed sample of uniformly random configurations."""
        rng = np.random.default_rng(0)
        points = np.array([list(self.space.sample(rng).values()) for _ in range(SYNTHETIC_SAMPLES)])
        return self._evaluate(np.column_stack([points, np.ones(SYNTHETIC_SAMPLES)]))

    def value(self, config: Mapping[str, ParamValue], resource: float) -> float:
        if not self.resource.contains(resource):
            raise ValueError(f"{self.name}: resource {resource} is outside the resource range")
        point = [float(config[key]) for key in self.space] + [resource / self.resource.r_max]
        return float(self._evaluate(np.array([point]))[0])

    def best_and_worst(self) -> tuple[Config, Config]:
        optimizer = next(point for point in self._function._optimizers if point[-1] == 1)
        rng = np.random.default_rng(0)
        sample = [self.space.sample(rng) for _ in range(SYNTHETIC_SAMPLES)]
        worst = sample[int(np.argmax(self.final_values()))]
        return dict(zip(self.space, (float(x) for x in optimizer[:-1]), strict=True)), worst

    def _evaluate(self, points: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self._function.evaluate_true(torch.as_tensor(points)).numpy()


# --- learning-curve problems --------------------------------------------------------------------


@cache
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardised digits, split 75/25 stratified with seed 0 (as in ``hpo demo``).

    Defined here rather than imported from the demo so that the cached curves depend
    on nothing the demo might change.
    """
    features, labels = load_digits(return_X_y=True)
    train_x, valid_x, train_y, valid_y = train_test_split(
        features, labels, test_size=0.25, random_state=0, stratify=labels
    )
    scaler = StandardScaler().fit(train_x)
    return scaler.transform(train_x), scaler.transform(valid_x), train_y, valid_y


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """``sklearn.metrics.log_loss`` (probabilities clipped to [eps, 1 - eps]); inf if not finite.

    sklearn's own raises on NaN and costs a millisecond of input validation per call.
    """
    eps = np.finfo(probabilities.dtype).eps
    chosen = np.clip(probabilities[np.arange(len(labels)), labels], eps, 1 - eps)
    loss = float(-np.mean(np.log(chosen)))
    return loss if math.isfinite(loss) else math.inf


def mlp_curve(config: Config, seed: int, epochs: int) -> np.ndarray:
    """Validation log loss after each of ``epochs`` epochs of ``partial_fit``; inf once diverged."""
    train_x, valid_x, train_y, valid_y = digits()
    model = MLPClassifier(
        hidden_layer_sizes=(int(config["hidden_units"]),),
        activation=str(config["activation"]),
        learning_rate_init=float(config["learning_rate_init"]),
        alpha=float(config["alpha"]),
        batch_size=int(config["batch_size"]),
        random_state=seed,
    )
    return epoch_curve(model, epochs, log_loss, math.inf)


def epoch_curve(
    model: MLPClassifier,
    epochs: int,
    score: Callable[[np.ndarray, np.ndarray], float],
    diverged: float,
) -> np.ndarray:
    """``score(labels, probabilities)`` on the digits validation split after each of ``epochs``
    epochs of ``partial_fit``; ``diverged`` from the epoch sklearn refuses to go on."""
    train_x, valid_x, train_y, valid_y = digits()
    curve = np.full(epochs, diverged)
    with np.errstate(all="ignore"):  # a diverging model overflows before sklearn notices
        for epoch in range(epochs):
            try:
                model.partial_fit(train_x, train_y, classes=CLASSES)
            except ValueError as error:
                if "non-finite" not in str(error):
                    raise
                break
            curve[epoch] = score(valid_y, model.predict_proba(valid_x))
    return curve


def hgb_curve(config: Config, seed: int, iterations: int) -> np.ndarray:
    """Validation log loss after each boosting iteration, all from one fit of ``iterations``."""
    train_x, valid_x, train_y, valid_y = digits()
    model = HistGradientBoostingClassifier(
        max_iter=iterations, early_stopping=False, random_state=seed, **config
    ).fit(train_x, train_y)
    stages = model.staged_predict_proba(valid_x)
    return np.fromiter((log_loss(valid_y, p) for p in stages), float, count=iterations)


class TabularProblem(Problem):
    """Learning curves of a grid of configurations, trained once and cached on disk.

    ``cells`` gives the number of grid values of each numeric parameter; a
    categorical parameter keeps all its choices. The cache file holds the raw
    curves of the whole grid (NaN rows: not trained yet) and a fingerprint of the
    grid and the scikit-learn version, so a file made for another grid is ignored.
    Writers merge under a file lock and replace the file atomically; the first
    curve stored for a grid point wins, so concurrent processes agree on it.
    """

    def __init__(
        self,
        name: str,
        space: Space,
        resource: Resource,
        cells: Mapping[str, int],
        train: Callable[[Config, int, int], np.ndarray],
        cache_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.space = space
        self.resource = resource
        self._train = train
        self._steps = int(resource.r_max)
        self._grid = {
            key: _grid_values(parameter, cells.get(key)) for key, parameter in space.items()
        }
        self._shape = tuple(len(values) for values in self._grid.values())
        self._strides = [math.prod(self._shape[i + 1 :]) for i in range(len(self._shape))]
        self._path = (cache_dir or CACHE_DIR) / f"{name}.npz"
        self._fingerprint = json.dumps(
            {
                "grid": {key: list(values) for key, values in self._grid.items()},
                "steps": self._steps,
                "scikit-learn": version("scikit-learn"),
            }
        )
        self._curves: np.ndarray | None = None

    @property
    def size(self) -> int:
        """The number of grid configurations."""
        return math.prod(self._shape)

    def snap(self, config: Mapping[str, ParamValue]) -> int:
        """The index of the grid configuration that stands for ``config``."""
        return sum(
            stride * _cell(self.space[key], len(values), config[key])
            for stride, (key, values) in zip(self._strides, self._grid.items(), strict=True)
        )

    def grid_config(self, index: int) -> Config:
        """The grid configuration with index ``index``."""
        cells = np.unravel_index(index, self._shape)
        return {
            key: values[cell] for (key, values), cell in zip(self._grid.items(), cells, strict=True)
        }

    def value(self, config: Mapping[str, ParamValue], resource: float) -> float:
        """The curve at ``resource``, interpolated between the grid's cell centres.

        Numeric parameters are interpolated linearly in the unit cube (log scale for log
        parameters) between the two nearest cell centres; categorical ones are exact. A
        snapped, piecewise-constant objective would make every configuration near a tried one
        an exact repeat of it, which punishes any search that refines locally; interpolation
        keeps the optimum (a multilinear interpolation is extreme at the grid points)."""
        step = round(resource)
        if abs(step - resource) > 1e-6 or not self.resource.contains(step):
            raise ValueError(f"{self.name}: resource {resource} is not a step of the curve")
        total = 0.0
        for index, weight in self._corners(config):
            total += weight * self._curve(index)[step - 1]
        return float(total)

    def _corners(self, config: Mapping[str, ParamValue]) -> list[tuple[int, float]]:
        """The grid points around ``config`` and their interpolation weights."""
        axes: list[list[tuple[int, float]]] = []
        for key, values in self._grid.items():
            parameter = self.space[key]
            if isinstance(parameter, Categorical):
                axes.append([(parameter.choices.index(config[key]), 1.0)])
                continue
            cells = len(values)
            position = parameter.encode(config[key])[0] * cells - 0.5
            lower = min(max(int(math.floor(position)), 0), cells - 2)
            upper_weight = min(max(position - lower, 0.0), 1.0)
            axes.append([(lower, 1.0 - upper_weight), (lower + 1, upper_weight)])
        corners = []
        for combination in itertools.product(*axes):
            weight = math.prod(w for _, w in combination)
            if weight > 0:
                index = sum(
                    stride * i for stride, (i, _) in zip(self._strides, combination, strict=True)
                )
                corners.append((index, weight))
        return corners

    def _curve(self, index: int) -> np.ndarray:
        """Grid point ``index``'s capped curve, trained now if no process has yet."""
        curves = self._table()
        if np.isnan(curves[index, 0]):
            curves = self._curves = self._load()  # another process may have trained it
        if np.isnan(curves[index, 0]):
            curves = self._store({index: self.train(index)})
        return curves[index]

    def train(self, index: int) -> np.ndarray:
        """Train grid configuration ``index`` now: its raw curve, one value per step."""
        config = self.grid_config(index)
        seed = zlib.crc32(json.dumps(config, sort_keys=True).encode())
        return self._train(config, seed, self._steps)

    def cached_curve(self, index: int) -> np.ndarray:
        """The cached curve of grid configuration ``index`` (capped; NaN if not trained yet)."""
        return self._table()[index].copy()

    def final_values(self) -> np.ndarray:
        """The final value of every grid configuration; needs the whole grid trained."""
        finals = self._table()[:, -1]
        missing = int(np.isnan(finals).sum())
        if missing:
            raise RuntimeError(
                f"{self.name}: {missing} of {self.size} grid curves are not cached in "
                f"{self._path}; run python -m benchmarks.quality.problems --prepare {self.name}"
            )
        return finals

    @cached_property
    def optimum(self) -> float:
        return float(self.final_values().min())

    @cached_property
    def reference(self) -> float:
        """The median final value of uniformly random configurations (interpolated), from a
        fixed sample."""
        rng = np.random.default_rng(0)
        sample = [self.space.sample(rng) for _ in range(REFERENCE_SAMPLES)]
        return float(np.median([self.final_value(config) for config in sample]))

    def best_and_worst(self) -> tuple[Config, Config]:
        finals = self.final_values()
        return self.grid_config(int(np.argmin(finals))), self.grid_config(int(np.argmax(finals)))

    def prepare(self, processes: int = 2) -> None:
        """Train every grid configuration not cached yet, in ``processes`` single-threaded workers.

        Results are stored every few dozen curves, so an interrupted run keeps its work.
        """
        missing = [int(i) for i in np.flatnonzero(np.isnan(self._table()[:, 0]))]
        print(f"{self.name}: {self.size} grid configurations, {len(missing)} to train", flush=True)
        if not missing:
            return
        seconds: list[float] = []
        pending: dict[int, np.ndarray] = {}
        start = last_report = time.monotonic()
        context = multiprocessing.get_context("spawn")
        with context.Pool(processes, initializer=_single_threaded) as pool:
            for index, curve, elapsed in pool.imap_unordered(
                _timed_train, [(self, i) for i in missing]
            ):
                pending[index] = curve
                seconds.append(elapsed)
                done = len(seconds)
                if len(pending) >= 50 or done == len(missing):
                    self._store(pending)
                    pending.clear()
                now = time.monotonic()
                if now - last_report >= 30 or done == len(missing):
                    last_report = now
                    left = (now - start) / done * (len(missing) - done)
                    print(
                        f"{self.name}: {done}/{len(missing)} curves, "
                        f"{np.mean(seconds):.2f} s a curve (max {max(seconds):.2f}), "
                        f"{(now - start) / 60:.1f} min elapsed, ~{left / 60:.1f} min left",
                        flush=True,
                    )

    def __getstate__(self) -> dict[str, object]:
        # Worker processes read the cache file themselves rather than receive a copy.
        return {**self.__dict__, "_curves": None}

    def _table(self) -> np.ndarray:
        if self._curves is None:
            self._curves = self._load()
        return self._curves

    def _load(self) -> np.ndarray:
        """The cached curves, capped (NaN rows, not trained yet, stay NaN)."""
        return np.minimum(self._read_raw(), LOSS_CAP)

    def _read_raw(self) -> np.ndarray:
        """The raw cached curves; all NaN where the file is missing or made for another grid."""
        try:
            with np.load(self._path) as data:
                if str(data["fingerprint"]) == self._fingerprint:
                    return data["curves"]
        except FileNotFoundError:
            pass
        return np.full((self.size, self._steps), np.nan)

    def _store(self, curves: Mapping[int, np.ndarray]) -> np.ndarray:
        """Merge ``curves`` into the cache file; return (and keep) the merged, capped table."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            raw = self._read_raw()
            for index, curve in curves.items():
                if np.isnan(raw[index, 0]):
                    raw[index] = curve
            temporary = self._path.with_suffix(f".{os.getpid()}.tmp")
            with open(temporary, "wb") as file:
                np.savez(file, fingerprint=np.array(self._fingerprint), curves=raw)
            os.replace(temporary, self._path)
        self._curves = np.minimum(raw, LOSS_CAP)
        return self._curves


def _grid_values(parameter: Parameter, cells: int | None) -> tuple[ParamValue, ...]:
    """Cell centres of a numeric parameter (3 significant digits), or a categorical's choices."""
    if isinstance(parameter, Categorical):
        return parameter.choices
    if cells is None:
        raise ValueError(f"{parameter} needs a number of grid cells")
    centres = [parameter.decode([(i + 0.5) / cells]) for i in range(cells)]
    if isinstance(parameter, Int):
        return tuple(centres)
    # Rounded so that the grid (and the seeds derived from it) is the same on every platform.
    return tuple(float(f"{centre:.3g}") for centre in centres)


def _cell(parameter: Parameter, cells: int, value: ParamValue) -> int:
    if isinstance(parameter, Categorical):
        return parameter.choices.index(value)
    return min(max(int(parameter.encode(value)[0] * cells), 0), cells - 1)


def _single_threaded() -> None:
    # One thread a process: the processes already fill the cores, extra threads only compete.
    threadpool_limits(limits=1)


def _timed_train(job: tuple[TabularProblem, int]) -> tuple[int, np.ndarray, float]:
    problem, index = job
    start = time.perf_counter()
    curve = problem.train(index)
    return index, curve, time.perf_counter() - start


# --- the problems -------------------------------------------------------------------------------

MLP_SPACE = Space(
    {
        "learning_rate_init": Float(1e-4, 1.0, log=True),
        "hidden_units": Int(8, 512, log=True),
        "alpha": Float(1e-6, 1e-1, log=True),
        "batch_size": Int(8, 256, log=True),
        "activation": Categorical(["relu", "tanh", "logistic"]),
    }
)
MLP_CELLS = {"learning_rate_init": 6, "hidden_units": 5, "alpha": 4, "batch_size": 4}

HGB_SPACE = Space(
    {
        "learning_rate": Float(0.005, 1.0, log=True),
        "max_leaf_nodes": Int(2, 64, log=True),
        "min_samples_leaf": Int(1, 64, log=True),
        "l2_regularization": Float(1e-6, 10.0, log=True),
        "max_features": Float(0.2, 1.0),
    }
)
HGB_CELLS = {
    "learning_rate": 6,
    "max_leaf_nodes": 5,
    "min_samples_leaf": 4,
    "l2_regularization": 3,
    "max_features": 4,
}

# Misleading low fidelities (mf_hartmann.py), crossing curves (curves.py), real models trained
# on the fly against a small validation set (live_tasks.py).
MF_HARTMANN_NAMES = ("mfh3-bad", "mfh6-bad", "mfh6-good")
CURVE_NAMES = ("rank-reversal", "lc-crossing")
LIVE_NAMES = ("sgd-cancer", "mlp-digits-err", "sgd-10d")
PROBLEM_NAMES = (
    "hartmann6",
    "branin",
    "mlp-digits",
    "hgb-digits",
    *MF_HARTMANN_NAMES,
    *CURVE_NAMES,
    *LIVE_NAMES,
)


def get_problem(name: str, cache_dir: Path | None = None) -> Problem:
    """The problem called ``name``; learning-curve problems keep their curves in ``cache_dir``
    (and live-trained ones their optimum and reference)."""
    # The newer problems' modules import this one: imported here, when first asked for.
    if name in MF_HARTMANN_NAMES:
        from benchmarks.quality import mf_hartmann

        return mf_hartmann.make(name)
    if name == "rank-reversal":
        from benchmarks.quality.curves import RankReversal

        return RankReversal(name)
    if name == "lc-crossing":
        from benchmarks.quality.curves import LearningCurves

        return LearningCurves(name)
    if name in LIVE_NAMES:
        from benchmarks.quality import live_tasks

        return live_tasks.make(name, cache_dir)
    if name == "hartmann6":
        return SyntheticProblem(name, AugmentedHartmann())
    if name == "branin":
        return SyntheticProblem(name, AugmentedBranin())
    if name == "mlp-digits":
        resource = Resource(r_min=1, r_max=27, eta=3, name="epochs")
        return TabularProblem(name, MLP_SPACE, resource, MLP_CELLS, mlp_curve, cache_dir)
    if name == "hgb-digits":
        resource = Resource(r_min=1, r_max=81, eta=3, name="iterations")
        return TabularProblem(name, HGB_SPACE, resource, HGB_CELLS, hgb_curve, cache_dir)
    raise ValueError(f"unknown problem {name!r}; the problems are {', '.join(PROBLEM_NAMES)}")


def all_problems(cache_dir: Path | None = None) -> list[Problem]:
    """Every benchmark problem, in a fixed order."""
    return [get_problem(name, cache_dir) for name in PROBLEM_NAMES]


def prepare(name: str, processes: int = 2, cache_dir: Path | None = None) -> None:
    """Train and cache every grid curve of problem ``name``, or a live-trained problem's optimum
    and reference (synthetic problems need nothing)."""
    problem = get_problem(name, cache_dir)
    if isinstance(problem, TabularProblem):
        problem.prepare(processes)
    elif name in LIVE_NAMES:
        problem.prepare(processes)  # type: ignore[attr-defined]


# --- command line -------------------------------------------------------------------------------


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"check failed: {message}")


def check(cache_dir: Path | None = None) -> None:
    """Determinism of every problem, and the synthetic optima at BoTorch's optimizers."""
    rng = np.random.default_rng(1)
    for name in ("hartmann6", "branin"):
        problem = get_problem(name)
        assert isinstance(problem, SyntheticProblem)
        full_fidelity = [point for point in problem._function.optimizers.tolist() if point[-1] == 1]
        _expect(bool(full_fidelity), f"{name}: BoTorch lists no optimizer at full fidelity")
        for optimizer in full_fidelity:
            config = dict(zip(problem.space, optimizer[:-1], strict=True))
            gap = problem.final_value(config) - problem.optimum
            _expect(abs(gap) < 1e-5, f"{name} at BoTorch's optimizer is {gap:g} from the optimum")
        print(f"{name}: the optimum {problem.optimum} is reached at BoTorch's optimizers")

    for name in ("mlp-digits", "hgb-digits"):
        problem = get_problem(name, cache_dir)
        assert isinstance(problem, TabularProblem)
        for index in range(problem.size):
            _expect(problem.snap(problem.grid_config(index)) == index, f"{name} grid point {index}")
        config = problem.space.sample(rng)
        first = [problem.value(config, r) for r in range(1, int(problem.resource.r_max) + 1)]
        again = [problem.value(config, r) for r in range(1, int(problem.resource.r_max) + 1)]
        _expect(first == again, f"{name} values are not deterministic")
        index = problem.snap(config)
        retrained = np.minimum(problem.train(index), LOSS_CAP)
        difference = float(np.max(np.abs(retrained - problem.cached_curve(index))))
        _expect(difference < 1e-9, f"{name} retraining point {index} differs by {difference}")
        print(
            f"{name}: {problem.size} grid points snap to themselves; values are deterministic "
            f"and retraining grid point {index} reproduces its cached curve (max difference "
            f"{difference:.1e})"
        )

    for name in (*MF_HARTMANN_NAMES, *CURVE_NAMES, *LIVE_NAMES):
        _check_newer(name, cache_dir, rng)

    probabilities = rng.dirichlet(np.full(10, 0.1), 200)
    labels = rng.integers(10, size=200)
    ours_loss = log_loss(labels, probabilities)
    sklearn_loss = sklearn_log_loss(labels, probabilities, labels=CLASSES)
    _expect(abs(ours_loss - sklearn_loss) < 1e-12, f"log loss {ours_loss} != {sklearn_loss}")
    print("log_loss matches sklearn.metrics.log_loss")


def _check_newer(name: str, cache_dir: Path | None, rng: np.random.Generator) -> None:
    """A newer problem's values are deterministic (in any order, in a fresh instance, with no
    cache), its resource range is enforced, and its best configuration reaches its optimum."""
    problem = get_problem(name, cache_dir)
    levels = [int(problem.resource.r_min * problem.resource.eta**k) for k in range(5)]
    levels = [level for level in levels if level < problem.resource.r_max]
    levels.append(int(problem.resource.r_max))
    configs = [problem.space.sample(rng) for _ in range(3)]
    first = [[problem.value(c, r) for r in levels] for c in configs]
    finals = [problem.final_value(c) for c in configs]
    again = [[problem.value(c, r) for r in levels] for c in configs]
    fresh = get_problem(name, cache_dir)
    reverse = [[fresh.value(c, r) for r in reversed(levels)][::-1] for c in reversed(configs)]
    _expect(first == again, f"{name} values are not deterministic")
    _expect(first == reverse[::-1], f"{name} values depend on the order of the calls")
    _expect(finals == [fresh.final_value(c) for c in configs], f"{name} final values differ")
    for outside in (problem.resource.r_min / 2, problem.resource.r_max * 1.5):
        try:
            problem.value(configs[0], outside)
        except ValueError:
            continue
        raise SystemExit(f"check failed: {name} accepts the resource {outside}")
    best, worst = problem.best_and_worst()
    regret = problem.normalized_regret(fresh.final_value(best))
    _expect(abs(regret) < 1e-9, f"{name}: its best configuration has regret {regret}")
    _expect(problem.reference > problem.optimum, f"{name}: reference <= optimum")
    print(
        f"{name}: {len(problem.space)} parameters, r_max {problem.resource.r_max:g}; values "
        f"deterministic at rungs {levels}; optimum {problem.optimum:.6g} (regret of the best "
        f"configuration {regret:.1e}), reference {problem.reference:.6g}, worst configuration's "
        f"regret {problem.normalized_regret(problem.final_value(worst)):.3g}"
    )


def summary(cache_dir: Path | None = None) -> None:
    """Print each problem's optimum, reference and spread of final values."""
    for problem in all_problems(cache_dir):
        finals = problem.final_values()
        low, q10, q90, high = np.quantile(finals, [0, 0.1, 0.9, 1])
        print(
            f"{problem.name}: optimum {problem.optimum:.6g}, reference (median) "
            f"{problem.reference:.6g}; final values of {len(finals)} configurations: "
            f"min {low:.4g}, 10% {q10:.4g}, 90% {q90:.4g}, max {high:.4g}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Multi-fidelity benchmark problems.")
    parser.add_argument("--prepare", nargs="*", metavar="NAME", help="train and cache grid curves")
    parser.add_argument("--check", action="store_true", help="check determinism and optima")
    parser.add_argument("--processes", type=int, default=2, help="training processes")
    parser.add_argument("--cache-dir", type=Path, default=None, help=f"default: {CACHE_DIR}")
    args = parser.parse_args(argv)
    if args.prepare is not None:
        for name in args.prepare or ["mlp-digits", "hgb-digits", *LIVE_NAMES]:
            start = time.monotonic()
            prepare(name, args.processes, args.cache_dir)
            print(f"{name}: prepared in {(time.monotonic() - start) / 60:.1f} min", flush=True)
    if args.check:
        check(args.cache_dir)
    if args.prepare is not None or not args.check:
        summary(args.cache_dir)


if __name__ == "__main__":
    main()
