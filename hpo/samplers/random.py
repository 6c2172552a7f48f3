"""Uniform random sampling, reproducible per trial.

Trial ``n`` of a study with seed ``s`` always gets the configuration drawn
from ``numpy.random.default_rng([s, n])``: no generator state has to be
persisted, a restarted coordinator proposes exactly what the first one would
have, and the order in which workers ask does not change any configuration.
"""

from __future__ import annotations

import numpy as np

from hpo.space import Config
from hpo.state import StudyState
from hpo.vocabulary import Source


class RandomSampler:
    source = Source.RANDOM

    def propose(self, state: StudyState, number: int) -> tuple[Config, str]:
        """The configuration of new trial ``number`` and its provenance."""
        rng = np.random.default_rng([state.spec.seed, number])
        return state.spec.space.sample(rng), self.source
