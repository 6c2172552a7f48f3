"""Real models trained on the fly, judged on a small validation set: ``sgd-cancer``,
``mlp-digits-err`` and the 10-parameter ``sgd-10d``.

Why: the tabular problems (``mlp-digits``, ``hgb-digits``) report a smooth log loss on a
generous validation set and measure regret on that same number, so an optimizer is never misled
by the noise of a real evaluation. Here the optimizer sees what a practitioner sees, the error
rate on a SMALL validation split (values move in steps of one example, about 1%, many
configurations tie, and the best on validation is often not the best), while the regret is the
error of the same trained model on a larger held-out test split at r_max, what the deployed
model would achieve:

* ``sgd-cancer``: ``SGDClassifier`` on breast cancer (169 train, 100 validation, 300 test),
  5 parameters, 3 categorical;
* ``sgd-10d``: the same model and data with 10 parameters, 6 categorical (loss, penalty,
  learning-rate schedule, class weights, averaging, feature scaling);
* ``mlp-digits-err``: a one-hidden-layer ``MLPClassifier`` on digits (300 train, 120
  validation, 1377 test), 6 parameters, 2 categorical.

Training is cheap enough to run on demand (about 1 ms an epoch for the linear models, 5-10 ms
for the network): one epoch of ``partial_fit`` per resource unit, deterministic given the
configuration (every seed is a hash of it, and the data order of each epoch a hash of the
configuration and the epoch). A trial's model is kept between calls, so asking for rung 9 after
rung 3 trains six more epochs, not nine; the curves of recently seen configurations are kept in
an LRU cache (a run evaluates about a thousand), and a configuration whose model was evicted is
retrained from scratch, which gives the same numbers.

``optimum`` is the best test error over a fixed sample of random configurations plus a small
local refinement around the best of them; ``reference`` the median test error of that random
sample. Both are computed once (45 s to 2 minutes on one core) and cached in
``benchmarks/quality/.cache/<name>.json``, keyed by the scikit-learn and numpy versions. An
optimizer that finds a configuration better than any the sample and refinement saw gets a
slightly negative regret.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import warnings
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from benchmarks.quality.determinism import config_key, hash_seed
from benchmarks.quality.problems import CACHE_DIR, Problem
from hpo.space import Categorical, Config, Float, Int, ParamValue, Space
from hpo.spec import Resource

# Bump when a change to the tasks changes their numbers: cached optima are then recomputed.
TASKS_VERSION = 1


# --- data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Splits:
    """Train, a small validation split and a larger test split."""

    train_x: np.ndarray
    train_y: np.ndarray
    valid_x: np.ndarray
    valid_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", np.unique(self.train_y))

    def chance(self, labels: np.ndarray) -> float:
        """The error of always predicting the most frequent training class (a diverged model)."""
        majority = np.bincount(self.train_y).argmax()
        return float(np.mean(labels != majority))


def _split(features: np.ndarray, labels: np.ndarray, valid: int, test: int, scaler: str) -> Splits:
    rest_x, test_x, rest_y, test_y = train_test_split(
        features, labels, test_size=test, random_state=0, stratify=labels
    )
    train_x, valid_x, train_y, valid_y = train_test_split(
        rest_x, rest_y, test_size=valid, random_state=0, stratify=rest_y
    )
    if scaler != "raw":
        fitted = (StandardScaler() if scaler == "standard" else MinMaxScaler()).fit(train_x)
        train_x, valid_x, test_x = (fitted.transform(x) for x in (train_x, valid_x, test_x))
    return Splits(
        *(np.ascontiguousarray(a) for a in (train_x, train_y, valid_x, valid_y, test_x, test_y))
    )


@cache
def cancer(scaler: str = "standard") -> Splits:
    """Breast cancer (569): 169 train, 100 validation, 300 test, stratified."""
    features, labels = load_breast_cancer(return_X_y=True)
    return _split(features, labels, valid=100, test=300, scaler=scaler)


@cache
def small_digits(scaler: str = "standard") -> Splits:
    """Digits (1797): 300 train, 120 validation, 1377 test, stratified."""
    features, labels = load_digits(return_X_y=True)
    return _split(features, labels, valid=120, test=1797 - 300 - 120, scaler=scaler)


# --- the problems -------------------------------------------------------------------------------


@dataclass
class _Run:
    """A configuration's training so far: its model (None once dropped) and its errors."""

    model: Any = None
    valid: list[float] = field(default_factory=list)  # validation error after each epoch
    test: float | None = None  # test error after r_max epochs
    diverged: bool = False


class LiveTask(Problem):
    """A model trained for real, one epoch per resource unit; see the module docstring.

    ``samples`` and ``refinements`` size the preparation of the optimum and the reference (tests
    use small ones with their own ``cache_dir``); ``curves_kept`` and ``models_kept`` bound the
    LRU caches of curves and of resumable models.
    """

    def __init__(
        self,
        name: str,
        space: Space,
        epochs: int,
        samples: int,
        refinements: int,
        cache_dir: Path | None = None,
        curves_kept: int = 50_000,
        models_kept: int = 128,
    ) -> None:
        self.name = name
        self.space = space
        self.resource = Resource(r_min=1, r_max=epochs, eta=3, name="epochs")
        self.epochs = epochs
        self.samples = samples
        self.refinements = refinements
        self._path = (cache_dir or CACHE_DIR) / f"{name}.json"
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._live: OrderedDict[str, None] = OrderedDict()  # runs whose model is kept
        self._curves_kept = curves_kept
        self._models_kept = models_kept
        self.preparation_seconds: float | None = None  # set when computed here, not loaded

    # -- what a task defines --

    @abstractmethod
    def splits(self, config: Mapping[str, ParamValue]) -> Splits:
        """The data ``config`` trains on."""

    @abstractmethod
    def new_model(self, config: Mapping[str, ParamValue], seed: int) -> Any:
        """An untrained model for ``config``."""

    @abstractmethod
    def train_epoch(self, model: Any, data: Splits, seed: int, epoch: int) -> None:
        """One more epoch (``epoch`` counts from 0); raise FloatingPointError if it diverged."""

    # -- values --

    def value(self, config: Mapping[str, ParamValue], resource: float) -> float:
        """The validation error rate after ``resource`` epochs."""
        step = round(resource)
        if abs(step - resource) > 1e-6 or not self.resource.contains(step):
            raise ValueError(f"{self.name}: resource {resource} is not a whole epoch in range")
        return self._train(config, step).valid[step - 1]

    def final_value(self, config: Mapping[str, ParamValue]) -> float:
        """The test error rate of the same model after r_max epochs."""
        run = self._train(config, self.epochs)
        assert run.test is not None
        return run.test

    def _train(self, config: Mapping[str, ParamValue], epochs: int) -> _Run:
        key = config_key(config, self.space)
        run = self._runs.get(key)
        if run is None:
            run = self._runs[key] = _Run()
            if len(self._runs) > self._curves_kept:
                dropped, _ = self._runs.popitem(last=False)
                self._live.pop(dropped, None)
        self._runs.move_to_end(key)
        if len(run.valid) >= epochs:
            return run
        data = self.splits(config)
        seed = hash_seed(self.name, key)
        if run.model is None and not run.diverged:  # new, or its model was evicted: restart
            run.model, run.valid = self.new_model(config, seed), []
        while len(run.valid) < epochs:
            epoch = len(run.valid)
            if not run.diverged:
                try:
                    # Inputs and parameters are ours and valid: scikit-learn's checks cost more
                    # than a small model's epoch.
                    with (
                        np.errstate(all="ignore"),
                        warnings.catch_warnings(),
                        sklearn.config_context(assume_finite=True, skip_parameter_validation=True),
                    ):
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        self.train_epoch(run.model, data, seed, epoch)
                except FloatingPointError:
                    run.diverged, run.model = True, None
            run.valid.append(self._error(run, data.valid_x, data.valid_y, data))
            if epoch + 1 == self.epochs:
                run.test = self._error(run, data.test_x, data.test_y, data)
        if len(run.valid) == self.epochs or run.diverged:
            run.model = None  # finished: the curve is all that is needed
            self._live.pop(key, None)
        else:
            self._live[key] = None
            self._live.move_to_end(key)
            if len(self._live) > self._models_kept:
                evicted, _ = self._live.popitem(last=False)
                if evicted in self._runs:
                    self._runs[evicted].model = None
        return run

    def predict(self, model: Any, features: np.ndarray) -> np.ndarray:
        """``model``'s predicted labels."""
        return model.predict(features)

    def _error(self, run: _Run, features: np.ndarray, labels: np.ndarray, data: Splits) -> float:
        if run.diverged:
            return data.chance(labels)
        with np.errstate(all="ignore"):
            predicted = self.predict(run.model, features)
        return float(np.count_nonzero(predicted != labels)) / len(labels)

    # -- optimum and reference --

    @cached_property
    def _prepared(self) -> dict[str, Any]:
        """The cached preparation, computed now (under a file lock) if missing or stale."""
        fingerprint = {
            "name": self.name,
            "samples": self.samples,
            "refinements": self.refinements,
            "epochs": self.epochs,
            "space": self.space.to_json(),
            "version": TASKS_VERSION,
            "scikit-learn": version("scikit-learn"),
            "numpy": version("numpy"),
        }
        loaded = self._load(fingerprint)
        if loaded is not None:
            return loaded
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be computing it
            loaded = self._load(fingerprint)
            if loaded is not None:
                return loaded
            started = time.perf_counter()
            prepared = {"fingerprint": fingerprint, **self._compute()}
            self.preparation_seconds = prepared["seconds"] = time.perf_counter() - started
            temporary = self._path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(prepared))
            os.replace(temporary, self._path)
        return prepared

    def _load(self, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
        try:
            prepared = json.loads(self._path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return prepared if prepared.get("fingerprint") == fingerprint else None

    def _compute(self) -> dict[str, Any]:
        """Test errors of a fixed random sample, then of perturbations of its five best."""
        rng = np.random.default_rng(0)
        sample = [self.space.sample(rng) for _ in range(self.samples)]
        finals = [self.final_value(config) for config in sample]
        best_index = int(np.argmin(finals))
        best, best_value = sample[best_index], finals[best_index]
        categorical = [
            (offset, parameter.dims)
            for offset, parameter in zip(
                np.cumsum([0] + [p.dims for p in self.space.values()]),
                self.space.values(),
                strict=False,
            )
            if isinstance(parameter, Categorical)
        ]
        for index in np.argsort(finals, kind="stable")[:5]:
            centre = self.space.to_unit(sample[index])
            for _ in range(self.refinements):
                unit = centre + rng.normal(0.0, 0.08, size=centre.shape)
                for offset, dims in categorical:
                    if rng.random() < 0.2:
                        unit[offset : offset + dims] = np.eye(dims)[rng.integers(dims)]
                config = self.space.from_unit(unit)
                final = self.final_value(config)
                if final < best_value:
                    best, best_value = config, final
        return {
            "final_values": finals,
            "optimum": best_value,
            "best": best,
            "worst": sample[int(np.argmax(finals))],
        }

    def prepare(self, processes: int = 1) -> None:
        """Compute (or load) the optimum and the reference now."""
        del processes  # one process: the preparation takes a few minutes at most
        self._prepared  # noqa: B018 - computed for its side effect

    @property
    def optimum(self) -> float:
        return float(self._prepared["optimum"])

    def final_values(self) -> np.ndarray:
        """Test errors at r_max of a fixed sample of uniformly random configurations."""
        return np.array(self._prepared["final_values"], dtype=float)

    def best_and_worst(self) -> tuple[Config, Config]:
        prepared = self._prepared
        return (
            self.space.validate(prepared["best"]),
            self.space.validate(prepared["worst"]),
        )


# --- SGDClassifier ------------------------------------------------------------------------------


class SGDTask(LiveTask):
    """A linear model trained by ``SGDClassifier.partial_fit`` on breast cancer.

    The space's parameters are SGDClassifier's, except ``scaler`` (the preprocessing: standard,
    minmax or raw features) and the yes/no and none/balanced spellings of ``average`` and
    ``class_weight`` (``partial_fit`` takes no "balanced": the weights are computed here)."""

    def splits(self, config: Mapping[str, ParamValue]) -> Splits:
        return cancer(str(config.get("scaler", "standard")))

    def new_model(self, config: Mapping[str, ParamValue], seed: int) -> SGDClassifier:
        settings: dict[str, Any] = {k: v for k, v in config.items() if k != "scaler"}
        if "average" in settings:
            settings["average"] = settings["average"] == "yes"
        if settings.get("class_weight") == "balanced":
            labels = self.splits(config).train_y
            counts = np.bincount(labels)
            settings["class_weight"] = {
                int(c): len(labels) / (len(counts) * int(n)) for c, n in enumerate(counts)
            }
        elif "class_weight" in settings:
            settings["class_weight"] = None
        # A generator, not an int: scikit-learn seeds a new one from an int on every call.
        return SGDClassifier(shuffle=False, random_state=np.random.RandomState(seed), **settings)

    def train_epoch(self, model: SGDClassifier, data: Splits, seed: int, epoch: int) -> None:
        order = np.random.default_rng([seed, epoch]).permutation(len(data.train_y))
        try:
            model.partial_fit(data.train_x[order], data.train_y[order], classes=data.classes)
        except ValueError as error:
            if "overflow" in str(error) or "finite" in str(error):
                raise FloatingPointError(str(error)) from error
            raise
        if not (np.all(np.isfinite(model.coef_)) and np.all(np.isfinite(model.intercept_))):
            raise FloatingPointError("non-finite weights")

    def predict(self, model: SGDClassifier, features: np.ndarray) -> np.ndarray:
        """``LinearClassifierMixin.predict`` without its input checks (a third of an epoch)."""
        scores = features @ model.coef_.T + model.intercept_
        if scores.shape[1] == 1:
            return model.classes_[(scores[:, 0] > 0).astype(int)]
        return model.classes_[np.argmax(scores, axis=1)]


# --- MLPClassifier ------------------------------------------------------------------------------


class MLPTask(LiveTask):
    """A one-hidden-layer network trained by ``MLPClassifier.partial_fit`` on small digits."""

    def splits(self, config: Mapping[str, ParamValue]) -> Splits:
        return small_digits("standard")

    def new_model(self, config: Mapping[str, ParamValue], seed: int) -> MLPClassifier:
        return MLPClassifier(
            hidden_layer_sizes=(int(config["hidden_units"]),),
            activation=str(config["activation"]),
            solver=str(config["solver"]),
            learning_rate_init=float(config["learning_rate_init"]),
            alpha=float(config["alpha"]),
            batch_size=int(config["batch_size"]),
            random_state=seed % 2**31,
        )

    def train_epoch(self, model: MLPClassifier, data: Splits, seed: int, epoch: int) -> None:
        try:
            model.partial_fit(data.train_x, data.train_y, classes=data.classes)
        except ValueError as error:
            if "non-finite" in str(error) or "finite" in str(error):
                raise FloatingPointError(str(error)) from error
            raise
        if not all(np.all(np.isfinite(w)) for w in model.coefs_):
            raise FloatingPointError("non-finite weights")

    def predict(self, model: MLPClassifier, features: np.ndarray) -> np.ndarray:
        """The class of the largest output (softmax keeps the order), without scikit-learn's
        input checks."""
        hidden = features @ model.coefs_[0] + model.intercepts_[0]
        if model.activation == "relu":
            hidden = np.maximum(hidden, 0.0)
        elif model.activation == "tanh":
            hidden = np.tanh(hidden)
        else:
            hidden = 1.0 / (1.0 + np.exp(-hidden))
        logits = hidden @ model.coefs_[1] + model.intercepts_[1]
        return model.classes_[np.argmax(logits, axis=1)]


# --- the registry -------------------------------------------------------------------------------

SGD_CANCER_SPACE = Space(
    {
        "alpha": Float(1e-6, 1.0, log=True),
        "eta0": Float(1e-4, 10.0, log=True),
        "loss": Categorical(["hinge", "log_loss", "modified_huber"]),
        "learning_rate": Categorical(["constant", "invscaling", "optimal"]),
        "average": Categorical(["no", "yes"]),
    }
)

MLP_DIGITS_SPACE = Space(
    {
        "learning_rate_init": Float(1e-4, 1.0, log=True),
        "hidden_units": Int(4, 128, log=True),
        "alpha": Float(1e-6, 1.0, log=True),
        "batch_size": Int(32, 256, log=True),
        "activation": Categorical(["relu", "tanh", "logistic"]),
        "solver": Categorical(["adam", "sgd"]),
    }
)

SGD_10D_SPACE = Space(
    {
        "alpha": Float(1e-7, 1.0, log=True),
        "l1_ratio": Float(0.0, 1.0),
        "eta0": Float(1e-5, 10.0, log=True),
        "power_t": Float(0.05, 1.0),
        "loss": Categorical(["hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron"]),
        "penalty": Categorical(["l2", "l1", "elasticnet"]),
        "learning_rate": Categorical(["constant", "optimal", "invscaling"]),
        "class_weight": Categorical(["none", "balanced"]),
        "average": Categorical(["no", "yes"]),
        "scaler": Categorical(["standard", "minmax", "raw"]),
    }
)


def make(name: str, cache_dir: Path | None = None, **options: Any) -> LiveTask:
    """The live task called ``name``; ``options`` override ``samples``, ``refinements``,
    ``curves_kept`` or ``models_kept`` (tests prepare from a small sample)."""
    if name == "sgd-cancer":
        sizes: dict[str, Any] = {"samples": 1000, "refinements": 20}
        return SGDTask(name, SGD_CANCER_SPACE, 27, cache_dir=cache_dir, **{**sizes, **options})
    if name == "mlp-digits-err":
        sizes = {"samples": 500, "refinements": 10}
        return MLPTask(name, MLP_DIGITS_SPACE, 27, cache_dir=cache_dir, **{**sizes, **options})
    if name == "sgd-10d":
        sizes = {"samples": 1000, "refinements": 30}
        return SGDTask(name, SGD_10D_SPACE, 27, cache_dir=cache_dir, **{**sizes, **options})
    raise ValueError(f"unknown live task {name!r}")
