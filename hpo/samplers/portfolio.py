"""The self-checking portfolio: how much of the search the GP gets, from how well it predicts.

A surrogate can be confidently wrong (low fidelities that rank configurations
unlike the top one, a kernel that does not suit the problem), and a sampler
that always follows it then stays stuck where it believes the optimum is. So
the model has to earn its share of the new configurations:

* **The online check.** Every fit first tests the model on the newest results
  at its target rung: a GP conditioned on the data that came *before* them
  (with the previous fit's kernel, so nothing is refitted) predicts them, and
  Kendall's tau between prediction and outcome says how well it ranks what it
  had not seen (:func:`kendall_check`; computed in
  :func:`hpo.samplers.gp_fit.check_predictions`).
* **Trust.** One check rests on a handful of results, so its tau is noisy.
  :func:`trust` shrinks it toward a neutral prior belief with the weight of
  ``PRIOR_PAIRS`` results, so a model is neither trusted nor dismissed on
  three points.
* **Shares.** :func:`model_share` maps trust to the probability that a new
  configuration is the model's, between a floor (a distrusted model still
  proposes now and then, and the check keeps watching, so it can earn its
  share back) and a ceiling (some configurations are always drawn without
  it, so a wrong model never takes the whole search). The rest goes to the
  study's fallback sampler: uniform draws, or PriorBand's mixture of the
  prior, the incumbent's neighbourhood and uniform draws, whose own split
  follows how well the prior explains the best results.

Everything here is a pure function of numbers, so it is tested with property
tests (``tests/unit/test_portfolio.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import kendalltau

# The least and most share of new configurations the model gets.
MIN_MODEL_SHARE = 0.2
MAX_MODEL_SHARE = 0.9
# Trust at which the model gets its least and its most share (a tau; linear in between).
NO_SKILL_TAU = 0.0
FULL_SKILL_TAU = 0.4
# Before any check, and as the shrinkage target of every check: a model is believed to rank
# moderately well (it is the default for a reason), with the weight of this many results.
PRIOR_TAU = 0.3
PRIOR_PAIRS = 6
# A check needs at least this many results to say anything.
MIN_CHECK_PAIRS = 4


@dataclass(frozen=True)
class ModelCheck:
    """How well a model ranked results it had not seen: Kendall's tau over ``pairs`` results."""

    tau: float
    pairs: int


def kendall_check(predicted: Sequence[float], observed: Sequence[float]) -> ModelCheck | None:
    """The check of ``predicted`` scores (higher: predicted better) against ``observed`` signed
    values (lower: better); None with too few results or no variation to rank."""
    predicted_array = np.asarray(predicted, dtype=float)
    observed_array = np.asarray(observed, dtype=float)
    if len(predicted_array) != len(observed_array):
        raise ValueError("predicted and observed differ in length")
    if len(predicted_array) < MIN_CHECK_PAIRS:
        return None
    tau = kendalltau(predicted_array, -observed_array).statistic
    if not np.isfinite(tau):
        return None
    return ModelCheck(float(tau), len(predicted_array))


def trust(check: ModelCheck | None) -> float:
    """The model's believed rank correlation: the check's tau shrunk toward PRIOR_TAU."""
    if check is None:
        return PRIOR_TAU
    return (check.tau * check.pairs + PRIOR_TAU * PRIOR_PAIRS) / (check.pairs + PRIOR_PAIRS)


def model_share(trust_value: float) -> float:
    """The probability that a new configuration is the model's, for a model of this trust."""
    skill = (trust_value - NO_SKILL_TAU) / (FULL_SKILL_TAU - NO_SKILL_TAU)
    share = MIN_MODEL_SHARE + (MAX_MODEL_SHARE - MIN_MODEL_SHARE) * skill
    return float(np.clip(share, MIN_MODEL_SHARE, MAX_MODEL_SHARE))


# The stream of the per-trial generator reserved for the portfolio's draw.
_PORTFOLIO_STREAM = 4


def portfolio_draw(seed: int, number: int) -> float:
    """New trial ``number``'s uniform draw in [0, 1), from the trial's own stream, so that it
    does not depend on the order of suggestions (nor on a restart)."""
    return float(np.random.default_rng([seed, number, _PORTFOLIO_STREAM]).random())


def uses_model(share: float, seed: int, number: int) -> bool:
    """Whether new trial ``number`` takes the model's candidate (probability ``share``)."""
    return portfolio_draw(seed, number) < share
