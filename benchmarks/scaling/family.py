"""The training task: a one-hidden-layer MLP on digits, trained for real with plain SGD.

Why this family. In the standard parametrization (He-normal hidden layer, a readout drawn from
N(0, 1/fan_in), one learning rate for every weight) the readout's share of the network's
tangent kernel grows with the width, so the largest stable learning rate of SGD, and the best
one, fall roughly as 1/width once the width is well above the input dimension (64 pixels).
The pilot (``python -m benchmarks.scaling.pilot``: 2 seeds, 22 learning rates) measured the
best learning rate at 27 epochs at 0.046 for width 256, 0.010 for 1024 and 0.0032 for 4096,
while at width 64 the loss is flat from 0.02 to 0.1: the law holds from about 256 on, which is
why the family starts there. (With PyTorch's default initialisation an earlier pilot saw the
best learning rate first rise with the width, up to 512, then fall: no single power law.)

The task, fixed so that a value depends on (width, learning rate, seed) alone:

* data: scikit-learn's digits (1,797 8x8 images), a stratified split of 1,200 training and 597
  validation images (``random_state=0``), pixels standardised with the training statistics
  (standard deviations floored at one grey level, so the always-blank pixels stay finite);
* model: 64 -> width -> ReLU -> 10; SGD with momentum 0.9, batch 32, constant learning rate;
* one resource unit is one epoch; the value is the validation cross-entropy after that epoch
  (lower is better). A run whose loss turns non-finite has diverged: it reports ``DIVERGED``
  from then on, as does any validation loss above it;
* seeds: the initialisation draws from ``seed``; epoch ``e`` shuffles with ``seed * 1000 +
  e``, so training on from a kept model gives exactly the numbers of training from scratch
  (one CPU thread, fixed shapes), and a promoted trial costs only its new epochs.

:class:`Trainer` keeps recent models in memory (to resume them) and every curve in a JSON-lines
file (so a rerun, or rebuilding the store from the result files, trains nothing twice).
"""

from __future__ import annotations

import json
import math
import os
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from hpo.space import Float, Space

# The family: the studies tune the three smaller widths; the laws extrapolate to the largest.
SMALL_WIDTHS = (256, 512, 1024)
LARGE_WIDTH = 4096
FAMILY = "mlp-digits-sgd"
# Epochs: ASHA's rungs with eta 3 are 1, 3, 9 and 27.
R_MIN, R_MAX = 1, 27
SPACE: Space = Space({"lr": Float(1e-4, 1.0, log=True)})
# The value of a diverged run (chance level is ln 10 = 2.3).
DIVERGED = 10.0
BATCH = 32
MOMENTUM = 0.9
VALIDATION = 597
# Models kept in memory to resume (a width-4096 model with its momentum is about 2.4 MB).
KEEP = 96


def scale_of(width: int) -> dict[str, float]:
    """The study's scale variables."""
    return {"width": float(width)}


@dataclass(frozen=True)
class Data:
    train_x: torch.Tensor
    train_y: torch.Tensor
    valid_x: torch.Tensor
    valid_y: torch.Tensor


@cache
def digits() -> Data:
    """The fixed split (module docstring)."""
    x, y = load_digits(return_X_y=True)
    train_x, valid_x, train_y, valid_y = train_test_split(
        x, y, test_size=VALIDATION, random_state=0, stratify=y
    )
    mean, spread = train_x.mean(axis=0), np.maximum(train_x.std(axis=0), 1.0)
    return Data(
        torch.tensor((train_x - mean) / spread, dtype=torch.float32),
        torch.tensor(train_y),
        torch.tensor((valid_x - mean) / spread, dtype=torch.float32),
        torch.tensor(valid_y),
    )


def single_thread() -> None:
    """One thread: other jobs share the machine, and the numbers must not depend on it."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)


def build(width: int, seed: int) -> torch.nn.Sequential:
    """The standard parametrization (module docstring), drawn from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    hidden, readout = torch.nn.Linear(64, width), torch.nn.Linear(width, 10)
    with torch.no_grad():
        hidden.weight.normal_(0.0, math.sqrt(2.0 / 64), generator=generator)
        readout.weight.normal_(0.0, math.sqrt(1.0 / width), generator=generator)
        hidden.bias.zero_()
        readout.bias.zero_()
    return torch.nn.Sequential(hidden, torch.nn.ReLU(), readout)


@dataclass
class _Run:
    """A model part-way through training: its weights, optimizer and curve so far."""

    model: torch.nn.Sequential
    optimizer: torch.optim.SGD
    curve: list[float]


def _key(width: int, lr: float, seed: int) -> str:
    return f"{width}|{lr!r}|{seed}"


class Trainer:
    """Validation-loss curves of (width, lr, seed), trained on demand and remembered.

    ``epochs_trained`` counts the epochs actually computed (not served from a cache), which
    is what the benchmark's CPU time is spent on; the studies' budgets are counted by the
    runs themselves, as a worker that keeps checkpoints would pay them."""

    def __init__(self, cache_file: Path | None = None) -> None:
        single_thread()
        self.cache_file = cache_file
        self.curves: dict[str, list[float]] = {}
        self.runs: OrderedDict[str, _Run] = OrderedDict()
        self.epochs_trained = 0
        self.mismatches = 0
        if cache_file is not None and cache_file.exists():
            for line in cache_file.read_text().splitlines():
                if line.strip():
                    entry = json.loads(line)
                    if len(entry["curve"]) > len(self.curves.get(entry["key"], [])):
                        self.curves[entry["key"]] = entry["curve"]

    def curve(self, width: int, lr: float, seed: int, epochs: int) -> list[float]:
        """The validation loss after each of the first ``epochs`` epochs."""
        key = _key(width, lr, seed)
        known = self.curves.get(key, [])
        if len(known) >= epochs:
            return known[:epochs]
        if known and known[-1] >= DIVERGED:
            return known + [DIVERGED] * (epochs - len(known))
        run = self.runs.pop(key, None)
        if run is None:
            model = build(width, seed)
            optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
            run = _Run(model, optimizer, [])
        while len(run.curve) < epochs:
            run.curve.append(self._epoch(run, seed, len(run.curve) + 1))
            self.epochs_trained += 1
            if run.curve[-1] >= DIVERGED:
                run.curve.extend([DIVERGED] * (epochs - len(run.curve)))
        overlap = min(len(known), len(run.curve))
        if run.curve[:overlap] != known[:overlap]:
            self.mismatches += 1  # training was not deterministic: recorded in the results
        if run.curve[-1] < DIVERGED:
            self.runs[key] = run
            while len(self.runs) > KEEP:
                self.runs.popitem(last=False)
        self._remember(key, run.curve)
        return run.curve[:epochs]

    def mean_final(self, width: int, lr: float, seeds: tuple[int, ...]) -> list[float]:
        """The value at ``R_MAX`` of each seed."""
        return [self.curve(width, lr, seed, R_MAX)[-1] for seed in seeds]

    def _epoch(self, run: _Run, seed: int, epoch: int) -> float:
        """Train epoch ``epoch`` (1-based) and return the validation loss after it."""
        data = digits()
        order = torch.randperm(
            len(data.train_y), generator=torch.Generator().manual_seed(seed * 1000 + epoch)
        )
        run.model.train()
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            loss = torch.nn.functional.cross_entropy(
                run.model(data.train_x[batch]), data.train_y[batch]
            )
            if not torch.isfinite(loss):
                return DIVERGED
            run.optimizer.zero_grad()
            loss.backward()
            run.optimizer.step()
        with torch.no_grad():
            value = float(torch.nn.functional.cross_entropy(run.model(data.valid_x), data.valid_y))
        return value if math.isfinite(value) and value < DIVERGED else DIVERGED

    def _remember(self, key: str, curve: list[float]) -> None:
        if len(curve) <= len(self.curves.get(key, [])):
            return
        self.curves[key] = list(curve)
        if self.cache_file is not None:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            with self.cache_file.open("a") as handle:
                handle.write(json.dumps({"key": key, "curve": curve}) + "\n")
