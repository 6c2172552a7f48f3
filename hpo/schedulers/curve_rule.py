"""Curve decisions (docs/curves.md): rank a trial at a rung by the value at r_max its learning
curve predicts, not by its value there.

A rung value is a snapshot: a curve still falling steeply looks worse than one that has
flattened, and where curves cross the low rungs mislead. With ``decision: curve`` the scheduler
asks :func:`hpo.curves.predict_at` for the value at r_max from the trial's reports so far,
once, when the report settles a rung. That prediction is stored with the report and ranks the
trial at the rung whenever the rung ranks by predictions (the study's self-check,
:mod:`hpo.rung_basis`: once the rung's trials that reached r_max show that the predictions
ranked them at least as well as the values), so promotions compare predictions made from
curves of the same length, a restarted coordinator ranks as the one before it did without
fitting again, and the decision's reason carries the prediction and its spread for audit. A study
whose r_max is raised keeps the predictions made for the old one.

Stopping-type studies stop a trial at a rung that ranks by predictions only when the
probability that its value at r_max beats the rung's top ``1/eta`` (the cut-off prediction
among the others) is below :data:`STOP_PROBABILITY`, and only on an extrapolation of the
ensemble: a curve too short or too flat to extrapolate is ranked by its last value, as ASHA
ranks it.
"""

from __future__ import annotations

from dataclasses import dataclass

from hpo.curves import CurvePrediction, predict_at
from hpo.state import StudyState

# Stopping type: a trial goes on while P(value at r_max beats the top 1/eta's cut-off) is at
# least this. Low, so a trial is stopped only when its curve all but rules it out: on held-out
# curves the predictive lower tail is too light (docs/curves.md, calibration), so a 5% cut-off
# would stop trials that go on to beat it far more often than 5% of the time.
STOP_PROBABILITY = 0.01
# The prediction method of an extrapolation (hpo.curves); the others are fallbacks.
ENSEMBLE = "ensemble"


@dataclass(frozen=True)
class Forecast:
    """A trial's predicted value at r_max from its curve so far, signed (lower is better)."""

    prediction: CurvePrediction
    sign: float

    @property
    def predicted(self) -> float:
        """The prediction in the objective's own direction (as reports are stored)."""
        return self.prediction.mean * self.sign

    def describe(self, r_max: float) -> str:
        prediction = self.prediction
        return (
            f"its curve predicts {self.predicted:.6g} ± {prediction.sd:.2g} at r_max "
            f"({r_max:g}) from {prediction.points} reports ({prediction.method})"
        )


def forecast(state: StudyState, number: int, resource: float, value: float) -> Forecast:
    """Trial ``number``'s forecast with its report of ``value`` (unsigned) at ``resource``,
    which is not in the state yet."""
    sign = state.spec.objective.sign
    points = [point for point in state.curve(number) if point[0] < resource]
    points.append((resource, value * sign))
    prediction = predict_at(
        [point[0] for point in points],
        [point[1] for point in points],
        state.spec.resource.r_max,
    )
    return Forecast(prediction, sign)


def chance_to_stay(state: StudyState, rung: int, keep: int, forecast: Forecast) -> float | None:
    """The probability that the trial's value at r_max beats the ``keep``-th best prediction
    among the other results at ``rung``; None when fewer than ``keep`` are there (it stays)."""
    results = state.results_at(rung)
    if len(results) < keep:
        return None
    return forecast.prediction.probability_below(results[keep - 1].signed_value)
