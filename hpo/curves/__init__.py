"""Learning-curve extrapolation: a trial's value at a target resource from its reports so far,
with a predictive distribution (docs/curves.md). Pure, deterministic and about a millisecond a
call, for the coordinator's decisions."""

from hpo.curves.distribution import CurvePrediction
from hpo.curves.predict import predict_at

__all__ = ["CurvePrediction", "predict_at"]
