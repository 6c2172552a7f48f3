"""Parametric learning-curve problems whose curves cross: ``rank-reversal`` and ``lc-crossing``.

Why: successive halving keeps what looks best early. Where early and final rankings agree that is
a bargain; where they disagree (fast starters plateau high, slow starters end best, aggressive
learning rates win the first epochs and lose the last) a method that trusts its low rungs throws
the winners away. The existing problems barely show this, so these two make it explicit, with a
known (or numerically found) optimum, a noise-free final value and cheap values (rank-reversal
about 0.1 ms a ``value``; lc-crossing 0.3 ms for a configuration's first, whose whole curve is then
cached, 0.03 ms after).

* ``rank-reversal`` (5-D, r_max 81): the rung-1 value is a decreasing function of the final value
  (plus a smooth scramble), and good configurations learn late: the ranking turns over between
  the middle rungs and r_max.
* ``lc-crossing`` (6-D, 2 categorical, 81 epochs): a stylised model of training with an optimizer
  (sgd, momentum, adam), a learning-rate schedule (constant, cosine, step), a learning rate, a
  warm-up, weight decay and a batch size. Progress grows with the cumulative learning rate; the
  error keeps a floor that grows with the current learning rate (gradient noise), so decaying
  schedules win at the end; too large a step early in training diverges unless warmed up; adam
  starts fastest and generalises a little worse.

Both observe a small deterministic noise at every resource (a function of configuration,
resource and problem); ``final_value`` is the noise-free value at r_max.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cached_property, lru_cache

import numpy as np
from scipy.optimize import minimize

from benchmarks.quality.determinism import config_key, hash_normal
from benchmarks.quality.problems import SYNTHETIC_SAMPLES, Problem
from hpo.space import Categorical, Config, Float, Int, ParamValue, Space
from hpo.spec import Resource

# --- rank reversal ------------------------------------------------------------------------------

RR_CENTRE = np.array([0.3, 0.7, 0.45, 0.8, 0.2])  # the optimum
RR_WEIGHTS = np.array([1.6, 1.0, 0.7, 0.45, 0.25])  # how much each parameter matters at the end
RR_SCRAMBLE = np.array([1.3, -0.8, 0.9, 1.7, -1.1])  # direction of the rung-1 scramble
RR_BEST = 0.05  # the final value at the optimum
RR_SPAN = 0.7  # about the spread of final values


class RankReversal(Problem):
    """Fast starters plateau high, slow starters end best.

    With ``u = log(r) / log(r_max)`` in [0, 1], a configuration ``x`` in [0, 1]^5 reports

        final(x) + head(x) * (1 - u ** lateness(x))

    where ``final`` has its global minimum 0.05 at ``RR_CENTRE`` (a weighted Gaussian well and a
    ripple of local minima), the rung-1 value ``final + head`` falls as ``final`` rises (plus a
    smooth scramble), and ``lateness`` is large for good configurations (their curve stays up
    until late and then drops) and small for bad ones (they drop at once and stay there).
    """

    def __init__(self, name: str = "rank-reversal", noise: float = 0.01) -> None:
        self.name = name
        self.space = Space({f"x{i}": Float(0.0, 1.0) for i in range(len(RR_CENTRE))})
        self.resource = Resource(r_min=1, r_max=81, eta=3, name="epochs")
        self.noise = noise

    @staticmethod
    def final_of(points: np.ndarray) -> np.ndarray:
        """The noise-free final value of rows ``points``."""
        offset = points - RR_CENTRE
        well = 1.0 - np.exp(-np.sum(RR_WEIGHTS * offset**2, axis=-1) / 0.25)
        ripple = np.mean(np.sin(3.0 * np.pi * offset) ** 2, axis=-1)
        return RR_BEST + 0.6 * well + 0.08 * ripple

    def curve_of(self, points: np.ndarray, resource: float) -> np.ndarray:
        """The noise-free value of rows ``points`` at ``resource``."""
        final = self.final_of(points)
        badness = np.clip((final - RR_BEST) / RR_SPAN, 0.0, 1.0)
        scramble = 0.12 * np.sin(2.0 * np.pi * (points @ RR_SCRAMBLE) + 0.7)
        start = 1.3 - 0.7 * badness + scramble
        head = np.maximum(start - final, 0.02)
        lateness = 0.4 * np.exp(2.4 * (1.0 - badness))  # 0.4 (bad) to 4.4 (good)
        u = math.log(resource / self.resource.r_min) / math.log(
            self.resource.r_max / self.resource.r_min
        )
        return final + head * (1.0 - u**lateness)

    def value(self, config: Mapping[str, ParamValue], resource: float) -> float:
        if not self.resource.contains(resource):
            raise ValueError(f"{self.name}: resource {resource} is outside the resource range")
        resource = min(max(resource, self.resource.r_min), self.resource.r_max)
        point = np.array([[float(config[key]) for key in self.space]])
        draw = hash_normal(self.name, config_key(config, self.space), resource)
        return float(self.curve_of(point, resource)[0] + self.noise * draw)

    def final_value(self, config: Mapping[str, ParamValue]) -> float:
        return float(self.final_of(np.array([[float(config[key]) for key in self.space]]))[0])

    @property
    def optimum(self) -> float:
        return RR_BEST

    @cached_property
    def _sample(self) -> tuple[np.ndarray, np.ndarray]:
        points = np.random.default_rng(0).random((SYNTHETIC_SAMPLES, len(self.space)))
        return points, self.final_of(points)

    def final_values(self) -> np.ndarray:
        return self._sample[1].copy()

    def best_and_worst(self) -> tuple[Config, Config]:
        points, finals = self._sample
        best = dict(zip(self.space, (float(x) for x in RR_CENTRE), strict=True))
        worst = dict(zip(self.space, (float(x) for x in points[np.argmax(finals)]), strict=True))
        return best, worst


# --- learning curves of optimizers and schedules ------------------------------------------------

OPTIMIZERS = ("sgd", "momentum", "adam")
SCHEDULES = ("constant", "cosine", "step")
# Per optimizer (sgd, momentum, adam):
LR_TUNED = np.array([0.1, 0.01, 1e-3])  # a good constant learning rate at batch size 128
LR_BATCH_POWER = np.array([1.0, 1.0, 0.5])  # linear scaling rule for sgd, square root for adam
SPEED = np.array([0.06, 0.09, 0.2])  # progress an epoch at the tuned learning rate
GRADIENT_NOISE = np.array([0.05, 0.04, 0.03])  # error floor per unit of (relative) step size
BASE_ERROR = np.array([0.055, 0.045, 0.07])  # the best error each optimizer can reach
UNSTABLE = np.array([4.0, 3.0, 6.0])  # relative step size that diverges at initialisation
WD_TUNED = np.array([5e-4, 5e-4, 5e-5])  # the best weight decay
CHANCE = 0.9  # the error of a diverged or untrained model (10 balanced classes)


class LearningCurves(Problem):
    """``lc-crossing``: validation error over ``epochs`` epochs; see the module docstring.

    Per epoch ``t`` (at its midpoint), the relative step size is ``z * schedule(t) *
    warmup(t)``, ``z`` the learning rate over the optimizer's tuned one (scaled with the batch
    size). The error is ``floor + (chance - floor) * (1 + progress / 0.1) ** -1.2 +
    gradient_noise * (recent step size)``, where ``progress`` sums the steps taken, ``floor`` grows
    with a badly chosen weight decay and with large batches, and the recent step size is an
    exponential average (a step schedule's drop takes a few epochs to show). A step above the
    stability limit (low at initialisation, four times higher after a few epochs) moves the curve
    to chance for good. Schedules span the full ``epochs``: a trial trained to ``r`` is the first
    ``r`` epochs of the full run, as in Hyperband.
    """

    def __init__(self, name: str = "lc-crossing", epochs: int = 81, noise: float = 0.004) -> None:
        self.name = name
        self.space = Space(
            {
                "optimizer": Categorical(OPTIMIZERS),
                "schedule": Categorical(SCHEDULES),
                "learning_rate": Float(1e-5, 1.0, log=True),
                "warmup_epochs": Int(0, 20),
                "weight_decay": Float(1e-6, 1e-1, log=True),
                "batch_size": Int(16, 1024, log=True),
            }
        )
        self.resource = Resource(r_min=1, r_max=epochs, eta=3, name="epochs")
        self.epochs = epochs
        self.noise = noise
        self._curve = lru_cache(maxsize=65_536)(self._curve_uncached)
        # The exponential average of the step size, recent[t] = 0.6 recent[t - 1] + 0.4 step[t]
        # from recent[0] = step[0], as a matrix: recent = step @ averaging.
        lag = np.arange(epochs)[None, :] - np.arange(epochs)[:, None]
        weights = np.where(lag >= 0, 0.4 * 0.6 ** np.maximum(lag, 0), 0.0)
        weights[0] = 0.6 ** np.arange(epochs)
        self._averaging = weights

    def __getstate__(self) -> dict[str, object]:
        # The curve cache wraps a bound method, which does not pickle.
        return {key: value for key, value in self.__dict__.items() if key != "_curve"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._curve = lru_cache(maxsize=65_536)(self._curve_uncached)

    @staticmethod
    def columns(configs: list[Mapping[str, ParamValue]]) -> dict[str, np.ndarray]:
        """Configurations as arrays (categoricals as choice indices)."""
        return {
            "optimizer": np.array([OPTIMIZERS.index(c["optimizer"]) for c in configs]),
            "schedule": np.array([SCHEDULES.index(c["schedule"]) for c in configs]),
            "learning_rate": np.array([float(c["learning_rate"]) for c in configs]),
            "warmup_epochs": np.array([float(c["warmup_epochs"]) for c in configs]),
            "weight_decay": np.array([float(c["weight_decay"]) for c in configs]),
            "batch_size": np.array([float(c["batch_size"]) for c in configs]),
        }

    def curves(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Noise-free error after each epoch, one row per configuration (n x epochs)."""
        opt = columns["optimizer"]
        batch = columns["batch_size"][:, None]
        lr = columns["learning_rate"][:, None]
        warmup = columns["warmup_epochs"][:, None]
        midpoint = np.arange(self.epochs)[None, :] + 0.5
        fraction = midpoint / self.epochs
        schedule = np.select(
            [columns["schedule"][:, None] == 0, columns["schedule"][:, None] == 1],
            [np.ones_like(fraction), 0.5 * (1.0 + np.cos(np.pi * fraction))],
            np.where(fraction < 0.5, 1.0, np.where(fraction < 0.75, 0.1, 0.01)),
        )
        warm = np.where(warmup > 0, np.minimum(1.0, midpoint / np.maximum(warmup, 1.0)), 1.0)
        relative = lr / LR_TUNED[opt][:, None] * (128.0 / batch) ** LR_BATCH_POWER[opt][:, None]
        step = relative * schedule * warm
        progress = np.cumsum(SPEED[opt][:, None] * step / (1.0 + step / 3.0), axis=1)

        decay = np.log10(columns["weight_decay"]) - np.log10(WD_TUNED[opt])
        floor = (
            BASE_ERROR[opt]
            + np.minimum(0.02 * (decay / 1.5) ** 2, 0.4)
            + 0.015 * np.maximum(np.log2(columns["batch_size"] / 128.0), 0.0)
        )[:, None]
        recent = step @ self._averaging
        error = floor + (CHANCE - floor) * (1.0 + progress / 0.1) ** -1.2
        error = np.minimum(error + GRADIENT_NOISE[opt][:, None] * recent, CHANCE)

        limit = UNSTABLE[opt][:, None] * (1.0 + 3.0 * (1.0 - np.exp(-midpoint / 4.0)))
        diverging = 1.0 / (1.0 + (limit / step) ** 5)  # a sigmoid in log(step / limit)
        diverged = np.maximum.accumulate(diverging, axis=1)
        return (1.0 - diverged) * error + diverged * CHANCE

    def _curve_uncached(self, config: tuple[tuple[str, ParamValue], ...]) -> np.ndarray:
        return self.curves(self.columns([dict(config)]))[0]

    def curve(self, config: Mapping[str, ParamValue]) -> np.ndarray:
        """The noise-free curve of ``config`` (cached; do not modify it)."""
        return self._curve(tuple((name, config[name]) for name in self.space))

    def value(self, config: Mapping[str, ParamValue], resource: float) -> float:
        """The error after ``resource`` epochs (linear between whole epochs), plus noise."""
        if not self.resource.contains(resource):
            raise ValueError(f"{self.name}: resource {resource} is outside the resource range")
        resource = min(max(resource, self.resource.r_min), self.resource.r_max)
        curve = self.curve(config)
        below = min(int(math.floor(resource)), self.epochs - 1)
        weight = resource - below
        mean = (
            (1.0 - weight) * curve[below - 1] + weight * curve[below]
            if weight
            else curve[below - 1]
        )
        draw = hash_normal(self.name, config_key(config, self.space), resource)
        return float(mean + self.noise * draw)

    def final_value(self, config: Mapping[str, ParamValue]) -> float:
        return float(self.curve(config)[-1])

    @cached_property
    def _sample(self) -> tuple[list[Config], np.ndarray]:
        rng = np.random.default_rng(0)
        configs = [self.space.sample(rng) for _ in range(SYNTHETIC_SAMPLES)]
        return configs, self.curves(self.columns(configs))[:, -1]

    def final_values(self) -> np.ndarray:
        return self._sample[1].copy()

    def columns_from_unit(self, unit: np.ndarray) -> dict[str, np.ndarray]:
        """Rows of the space's unit encoding as arrays, decoded as ``Space.from_unit`` does."""
        columns: dict[str, np.ndarray] = {}
        offset = 0
        for name, parameter in self.space.items():
            block = unit[:, offset : offset + parameter.dims]
            offset += parameter.dims
            if isinstance(parameter, Categorical):
                columns[name] = np.argmax(block, axis=1)
                continue
            low, high = float(parameter.low), float(parameter.high)
            if isinstance(parameter, Int):
                low, high = low - 0.5, high + 0.5
            if parameter.log:
                low, high = math.log(low), math.log(high)
            values = low + np.clip(block[:, 0], 0.0, 1.0) * (high - low)
            values = np.exp(values) if parameter.log else values
            if isinstance(parameter, Int):
                values = np.round(values)
            columns[name] = np.clip(values, parameter.low, parameter.high).astype(float)
        return columns

    @cached_property
    def _best(self) -> tuple[Config, float]:
        """Of 100,000 random configurations, the best of each pair of optimizer and schedule;
        the three best of those polished by Powell's method over the numeric parameters' unit
        encoding. About two seconds; a longer search (200,000 configurations, 30 polished)
        found 1.3e-5 less (a regret of -4e-5)."""
        rng = np.random.default_rng(1)
        unit = rng.random((100_000, self.space.dims))
        finals = np.concatenate(
            [self.curves(self.columns_from_unit(chunk))[:, -1] for chunk in np.array_split(unit, 5)]
        )
        columns = self.columns_from_unit(unit)
        pair = columns["optimizer"] * len(SCHEDULES) + columns["schedule"]
        leaders = [int(np.flatnonzero(pair == p)[np.argmin(finals[pair == p])]) for p in range(9)]
        leaders = sorted(leaders, key=lambda i: finals[i])[:3]
        numeric = ["learning_rate", "warmup_epochs", "weight_decay", "batch_size"]
        best: Config | None = None
        best_value = math.inf
        for index in leaders:
            start = self.space.from_unit(unit[index])

            def config_at(x: np.ndarray, start: Config = start) -> Config:
                config = dict(start)
                for name, u in zip(numeric, x, strict=True):
                    config[name] = self.space[name].decode([u])
                return config

            x0 = np.array([self.space[name].encode(start[name])[0] for name in numeric])
            result = minimize(
                lambda x, at=config_at: float(self.curves(self.columns([at(x)]))[0, -1]),
                x0,
                method="Powell",
                bounds=[(0, 1)] * len(numeric),
                options={"xtol": 1e-6, "ftol": 1e-10},
            )
            for config in (start, config_at(result.x)):
                final = self.final_value(config)
                if final < best_value:
                    best, best_value = config, final
        assert best is not None
        return best, best_value

    @property
    def optimum(self) -> float:
        return self._best[1]

    def best_and_worst(self) -> tuple[Config, Config]:
        configs, finals = self._sample
        return dict(self._best[0]), dict(configs[int(np.argmax(finals))])
