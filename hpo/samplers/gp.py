"""The GP sampler: new configurations from a pool of candidates that a surrogate fit chose.

A fit (:func:`hpo.samplers.gp_fit.fit_and_propose`, on BoTorch) is far too slow
for an RPC, so the sampler never fits: it hands out the best candidate of the
study's latest *pool*, skipping any that lies close to a trial a worker holds
now (the fit fantasised the trials running when it started, not those started
since). With no usable candidate (too little data yet, a fit not done, a failed
fit) it falls back to its fallback sampler, so a study never waits.

Who fits, and when, is a :class:`ModelSource`: in the coordinator a background
process (:mod:`hpo.coordinator.fit_process`), in the simulator and in tests
:class:`InlineModels`, which fits in the caller's thread. Both follow the same
schedule (:meth:`ModelSlot.due`), so what the benchmark measures is what the
service does, with the fit time taken out of the hot path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from hpo.samplers.base import Sampler
from hpo.samplers.model_input import MIN_RESULTS, ModelInput, model_input
from hpo.samplers.portfolio import MAX_MODEL_SHARE, ModelCheck, model_share, trust, uses_model
from hpo.samplers.prior_band import acquisition_prior
from hpo.schedulers.rungs import rung_levels
from hpo.space import Config
from hpo.state import StudyState
from hpo.vocabulary import Source

log = logging.getLogger(__name__)

# Candidates one fit proposes: one per worker that may ask before the next fit ends (the
# trials running now, plus slack), at most POOL_SIZE.
POOL_SIZE = 8
POOL_SLACK = 2
# Candidates keep this distance (unit cube, per square root of the dimension) from each other
# and from the trials workers hold, so parallel workers never train near-duplicates.
MIN_DISTANCE = 0.05


@dataclass
class CandidatePool:
    """Configurations a fit chose, best first (unit-cube points, one per row)."""

    units: np.ndarray
    # Results the fit saw, and how many fits the study had: the pool's freshness.
    n_results: int
    fit_number: int
    # The share of new configurations the model gets, from its online check (portfolio).
    model_share: float = MAX_MODEL_SHARE

    def __len__(self) -> int:
        return len(self.units)


@dataclass(frozen=True)
class FitResult:
    """What a fit returns: its candidates and the kernel's hyperparameters (a warm start)."""

    units: np.ndarray
    hyperparameters: dict[str, Any]
    seconds: float
    # The previous model's check on the newest results (None: nothing to check yet).
    check: ModelCheck | None = None


@dataclass
class ModelSlot:
    """One study's model bookkeeping: its pool, and what the last fit was asked to see."""

    pool: CandidatePool | None = None
    hyperparameters: dict[str, Any] | None = None
    fits: int = 0
    # The data of the last fit request (or failure): results seen and trials held then.
    requested_results: int = -1
    requested_busy: frozenset[int] = frozenset()
    # After a failed fit, the next one waits for new results.
    failed_at: int = -1
    # The latest online check of the model (kept when a fit had nothing new to check).
    check: ModelCheck | None = None

    def due(self, state: StudyState, refit_fraction: float) -> bool:
        """Whether a new fit should start: enough new results (at least one, and at least
        ``refit_fraction`` of the data), or the pool ran dry and the data or the running
        trials changed since the last request."""
        if state.n_results < MIN_RESULTS or state.n_results <= self.failed_at:
            return False
        new = state.n_results - max(self.requested_results, 0)
        if new > 0 and new >= refit_fraction * state.n_results:
            return True
        if self.pool is not None and len(self.pool) > 0:
            return False
        busy = frozenset(trial.number for trial in state.busy_trials())
        return new > 0 or busy != self.requested_busy

    def request(self, state: StudyState) -> ModelInput:
        """The snapshot for the next fit (call under the study's lock)."""
        self.requested_results = state.n_results
        self.requested_busy = frozenset(trial.number for trial in state.busy_trials())
        prior, power = acquisition_prior(state)
        return model_input(
            state,
            rung_levels(state.spec.resource),
            n_candidates=min(POOL_SIZE, len(self.requested_busy) + POOL_SLACK),
            seed=_fit_seed(state.spec.seed, self.fits),
            prior=prior,
            prior_power=power,
        )

    def install(self, data: ModelInput, result: FitResult) -> None:
        self.fits += 1
        self.hyperparameters = result.hyperparameters
        if result.check is not None:
            self.check = result.check
        share = model_share(trust(self.check))
        self.pool = CandidatePool(result.units, data.n_results, self.fits, share)

    def fail(self, data: ModelInput) -> None:
        """The fit of ``data`` failed: sample without a model until new results arrive."""
        self.pool = None
        self.failed_at = data.n_results


def _fit_seed(seed: int, fit_number: int) -> int:
    return int(np.random.default_rng([seed, fit_number]).integers(2**31))


class ModelSource(Protocol):
    """Who fits a study's surrogate; the sampler only reads pools."""

    def pool(self, state: StudyState) -> CandidatePool | None:
        """The study's latest pool (this may start a fit, or wait for a due one)."""
        ...

    def observe(self, state: StudyState) -> None:
        """New results or running trials: start a fit now if one is due."""
        ...

    def waits_for_fit(self, state: StudyState) -> bool:
        """Whether ``pool(state)`` would run a fit and wait for it (a deterministic study's due
        fit, or any due fit of inline models). The service runs such a fit with
        ``fit_due`` before its write transaction, never inside it."""
        ...

    def fit_due(self, state: StudyState) -> None:
        """Run the fit ``pool(state)`` would wait for, now, and wait for it."""
        ...


Fit = Callable[[ModelInput, "dict[str, Any] | None"], FitResult]


def default_fit() -> Fit:
    """The BoTorch fit, imported on first use (torch is heavy and only fits need it)."""
    from hpo.samplers.gp_fit import fit_and_propose

    return fit_and_propose


class InlineModels:
    """Fits in the caller's thread when a fit is due: for the simulator and for tests, and
    the reference for the coordinator's background models (same schedule, same results)."""

    def __init__(self, fit: Fit | None = None, refit_fraction: float = 0.0) -> None:
        self._fit = fit
        self.refit_fraction = refit_fraction
        self.slots: dict[str, ModelSlot] = {}

    def pool(self, state: StudyState) -> CandidatePool | None:
        slot = self.slots.setdefault(state.spec.name, ModelSlot())
        if slot.due(state, self.refit_fraction):
            data = slot.request(state)
            fit = self._fit or default_fit()
            try:
                slot.install(data, fit(data, slot.hyperparameters))
            except Exception:
                log.exception("study %s: model fit failed; sampling at random", state.spec.name)
                slot.fail(data)
        return slot.pool

    def observe(self, state: StudyState) -> None:
        """Nothing to do ahead of time: the next ``pool`` call fits when due."""

    def waits_for_fit(self, state: StudyState) -> bool:
        slot = self.slots.get(state.spec.name)
        return (slot or ModelSlot()).due(state, self.refit_fraction)

    def fit_due(self, state: StudyState) -> None:
        self.pool(state)


def min_distance(dims: int) -> float:
    """How far apart (Euclidean, in the unit cube) two configurations handed out together are."""
    return MIN_DISTANCE * float(np.sqrt(dims))


def take_candidate(pool: CandidatePool, state: StudyState) -> Config | None:
    """Remove and return the pool's best candidate that is not close to a held trial (the fit
    kept its candidates apart from the trials held when it started, not from later ones)."""
    space = state.spec.space
    held = [state.unit(trial.number) for trial in state.busy_trials()]
    threshold = min_distance(space.dims)
    while len(pool.units):
        unit, pool.units = pool.units[0], pool.units[1:]
        config = space.from_unit(unit)
        if not held:
            return config
        distances = np.linalg.norm(np.asarray(held) - space.to_unit(config), axis=1)
        if distances.min() >= threshold:
            return config
    return None


class GPSampler:
    """Model-based configurations once the surrogate has data, for the share of new trials its
    online check earns (:mod:`hpo.samplers.portfolio`); the fallback's for the others, and
    before the model has data."""

    source = Source.MODEL

    def __init__(self, models: ModelSource, fallback: Sampler) -> None:
        self.models = models
        self.fallback = fallback

    def propose(self, state: StudyState, number: int) -> tuple[Config, str]:
        pool = self.models.pool(state)
        if pool is not None and uses_model(pool.model_share, state.spec.seed, number):
            config = take_candidate(pool, state)
            if config is not None:
                log.debug(
                    "study %s: trial %d takes a candidate of fit %d on %d results (%d now)",
                    state.spec.name,
                    number,
                    pool.fit_number,
                    pool.n_results,
                    state.n_results,
                )
                return config, self.source
        return self.fallback.propose(state, number)
