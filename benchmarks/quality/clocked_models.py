"""The coordinator's background fits, replayed on the simulator's clock.

In the service a GP fit runs in a separate process while workers keep training:
a fit due after a report starts at once if none of the study's fits is running,
and its candidate pool serves suggestions only once it is done; until then the
previous pool (or the fallback sampler) does. :class:`ClockedModels` follows
the same schedule (:class:`hpo.samplers.gp.ModelSlot`, the rule
:class:`hpo.coordinator.fit_process.ModelManager` applies) on simulated time: a due
fit runs at once in the simulator's thread, its wall-clock seconds are
measured, and its pool is installed only when the simulated clock has moved on
by those seconds, converted at ``seconds_per_unit`` seconds of training per
resource unit. So a slow fit, or short trials, cost the model freshness here
exactly as they would on a cluster, and the benchmark measures the share of
model-chosen trials and how many results old their model was.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from benchmarks.quality.simulator import SimulatedClock
from hpo.samplers.gp import CandidatePool, Fit, FitResult, ModelSlot, default_fit
from hpo.samplers.model_input import ModelInput
from hpo.state import StudyState

log = logging.getLogger(__name__)


@dataclass
class FitStats:
    """What the fits of one run cost and how fresh their pools were when used."""

    seconds: list[float] = field(default_factory=list)
    # For each pool installed: results the study had then minus results the fit saw.
    staleness: list[int] = field(default_factory=list)


class ClockedModels:
    """A :class:`hpo.samplers.gp.ModelSource` whose fits take simulated time (one study)."""

    def __init__(
        self,
        clock: SimulatedClock,
        seconds_per_unit: float,
        fit: Fit | None = None,
        refit_fraction: float = 0.0,
    ) -> None:
        self.clock = clock
        self.seconds_per_unit = seconds_per_unit
        self.refit_fraction = refit_fraction
        self.stats = FitStats()
        self._fit = fit
        self._slot = ModelSlot()
        # The fit running "in the background": its input, its result (or None if it failed)
        # and the simulated time at which it ends.
        self._running: tuple[ModelInput, FitResult | None, float] | None = None

    def pool(self, state: StudyState) -> CandidatePool | None:
        self.observe(state)
        return self._slot.pool

    def observe(self, state: StudyState) -> None:
        self._finish(state)
        if self._running is not None or not self._slot.due(state, self.refit_fraction):
            return
        data = self._slot.request(state)
        fit = self._fit or default_fit()
        started = time.perf_counter()
        try:
            result: FitResult | None = fit(data, self._slot.hyperparameters)
        except Exception:  # noqa: BLE001 - as in the service: a failed fit falls back
            log.exception("model fit failed; sampling without a model until the next fit")
            result = None
        seconds = time.perf_counter() - started
        self.stats.seconds.append(seconds)
        self._running = (data, result, self.clock.now + seconds / self.seconds_per_unit)
        self._finish(state)

    def waits_for_fit(self, state: StudyState) -> bool:
        return False  # a fit's cost is simulated time, never a wait

    def fit_due(self, state: StudyState) -> None:
        self.observe(state)

    def _finish(self, state: StudyState) -> None:
        """Install the running fit's pool once the clock has passed its end."""
        if self._running is None or self._running[2] > self.clock.now:
            return
        data, result, _ = self._running
        self._running = None
        if result is None:
            self._slot.fail(data)
            return
        self._slot.install(data, result)
        self.stats.staleness.append(state.n_results - data.n_results)
