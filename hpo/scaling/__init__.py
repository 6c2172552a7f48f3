"""Hyperparameter scaling laws: tune a family of studies at small scales, extrapolate.

The optimal learning rate of a model family follows a power law in its parameters and
tokens, and the optimal batch size mainly in the tokens. From results at several small
scales this package estimates each scale's optimum, fits such laws with confidence
intervals, and proposes a configuration, with prediction intervals, at a larger scale.
See docs/scaling.md. It needs scipy (the server's dependencies), so the light core must
import it lazily.
"""

from hpo.scaling.fit import Proposal, ScalingFit, fit_scaling
from hpo.scaling.laws import ParameterLaw
from hpo.scaling.observations import Observation, ScalingError
from hpo.scaling.optima import ScalePoint

__all__ = [
    "Observation",
    "ParameterLaw",
    "Proposal",
    "ScalePoint",
    "ScalingError",
    "ScalingFit",
    "fit_scaling",
]
