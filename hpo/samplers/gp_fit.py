"""The surrogate fit: a GP over (configuration, resource) on BoTorch, and the candidates it picks.

This is MOBSTER's model (Klein et al., "Model-based Asynchronous Hyperparameter
and Neural Architecture Search"): one GP fitted on every rung result, with a
Matérn-5/2 kernel over the configuration (automatic relevance determination,
one-hot coordinates for categorical choices, log parameters in log space)
multiplied by a Matérn-5/2 kernel over the log resource. New configurations
maximise log expected improvement (Ament et al., "Unexpected Improvements to
Expected Improvement") at the highest rung with enough results.

Details that matter in practice:

* Values are turned into normal scores (rank-based, a Gaussian copula as in
  Salinas et al.) before they are standardised: a few diverged trials with huge
  losses would otherwise flatten the model everywhere else.
* Trials held by workers are *fantasised* at the target resource with the
  model's mean (the Kriging believer), and each chosen candidate is added to
  them before the next is chosen, so parallel workers get distinct points.
* The acquisition is maximised over valid points only: a large quasi-random set
  and perturbations of the best configurations are decoded through the space
  (ints rounded, one-hot coordinates turned into one choice) and scored. For a
  pool's first candidate, the best few are refined by L-BFGS-B in the relaxed
  cube and rounded again; the later ones, chosen under fantasies, are the best
  scored points (refining them cost 70% of a fit for little gain).
* The kernel's hyperparameters of the previous fit are the starting point of
  the next (a warm start); if that fit fails, it starts again from the priors.
* A study with a prior over configurations weights the acquisition as πBO does
  (Hvarfner et al.): log EI + (beta / n) * log prior(x), n the configurations
  observed, in the scores that rank candidates; its samples join the raw points.
  The gradient refinement sees log EI alone, and its result is scored with the
  prior term like every other point.

* Outcome constraints get a GP each over the same inputs, on the scaled slack
  (feasible where <= 0); the acquisition adds log P(feasible) for each (log
  constrained EI, Gardner et al. 2014), and the incumbent is the best *feasible*
  result at the target (none yet: any improvement counts, so feasibility leads).
* A cost metric gets a GP on log cost; the acquisition subtracts its predicted
  log cost (improvement per unit of cost), and the neighbourhoods searched are
  those of the Pareto front of cost against the objective at the target, so
  cheap good configurations are refined first (CARBS, Fetterman et al. 2023).

It runs where the caller puts it (the coordinator runs it in a separate
process with one torch thread) and returns plain numpy.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction, LogExpectedImprovement
from botorch.acquisition.fixed_feature import FixedFeatureAcquisitionFunction
from botorch.exceptions.warnings import OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.generation import gen_candidates_scipy
from botorch.models import SingleTaskGP
from botorch.models.transforms import Standardize
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.mlls import ExactMarginalLogLikelihood
from scipy.stats import norm, rankdata

from hpo.pareto import pareto_mask
from hpo.priors.density import Prior
from hpo.samplers.gp import FitResult, min_distance
from hpo.samplers.model_input import ModelInput
from hpo.samplers.portfolio import MIN_CHECK_PAIRS, ModelCheck, kendall_check
from hpo.space import Space

# Valid points scored per candidate: quasi-random ones, and perturbations of the best.
N_QUASI_RANDOM = 512
N_LOCAL = 256
# Draws from the study's prior scored per candidate, when it has a prior.
N_PRIOR = 128
# Configurations whose neighbourhoods are searched, and the spread of the perturbations.
N_BEST = 8
LOCAL_SPREAD = 0.08
# Best scored points refined by gradient steps, and the most steps each.
N_REFINE = 3
REFINE_STEPS = 50
# L-BFGS steps of one fit. A cold fit on a few hundred points can take 500 steps (~20 s here);
# fits are warm-started from the previous one, so a study's fits keep converging across fits,
# and a warm fit takes fewer steps: the coordinator refits after nearly every result, so a
# warm fit's cost is what decides how fresh the model is (docs/algorithms.md).
FIT_STEPS = 100
WARM_FIT_STEPS = 20
# The newest results at the target rung that the online check holds out (at most half of them).
CHECK_RESULTS = 12
_DTYPE = torch.double


def normal_scores(values: np.ndarray) -> np.ndarray:
    """Ranks mapped to standard normal quantiles (ties share a rank): order is all that is kept."""
    ranks = rankdata(values, method="average")
    return norm.ppf((ranks - 0.5) / len(values))


def build_model(x: torch.Tensor, y: torch.Tensor) -> SingleTaskGP:
    """The GP over (configuration, resource): the resource is the last column of ``x``."""
    dims = x.shape[-1] - 1
    configuration = get_covar_module_with_dim_scaled_prior(
        ard_num_dims=dims, use_rbf_kernel=False, active_dims=list(range(dims))
    )
    resource = get_covar_module_with_dim_scaled_prior(
        ard_num_dims=1, use_rbf_kernel=False, active_dims=[dims]
    )
    return SingleTaskGP(
        x, y, covar_module=configuration * resource, outcome_transform=Standardize(m=1)
    )


def hyperparameters(model: SingleTaskGP) -> dict[str, np.ndarray]:
    """The fitted raw hyperparameters, as numpy (the training data is not included)."""
    return {name: value.detach().cpu().numpy().copy() for name, value in model.named_parameters()}


def _load(model: SingleTaskGP, warm: dict[str, Any]) -> bool:
    """Start from an earlier fit's hyperparameters when they fit this model's shapes."""
    parameters = dict(model.named_parameters())
    if set(parameters) != set(warm) or any(
        parameters[name].shape != tuple(value.shape) for name, value in warm.items()
    ):
        return False
    with torch.no_grad():
        for name, value in warm.items():
            parameters[name].copy_(torch.as_tensor(value, dtype=_DTYPE))
    return True


def _maximise_likelihood(model: SingleTaskGP, steps: int) -> None:
    fit_gpytorch_mll(
        ExactMarginalLogLikelihood(model.likelihood, model),
        optimizer_kwargs={"options": {"maxiter": steps}},
    )


def fit_model(x: torch.Tensor, y: torch.Tensor, warm: dict[str, Any] | None) -> SingleTaskGP:
    """Maximise the marginal likelihood, from ``warm`` if given; retry from the priors once."""
    model = build_model(x, y)
    if warm is not None and _load(model, warm):
        try:
            _maximise_likelihood(model, WARM_FIT_STEPS)
            return model
        except Exception:  # noqa: BLE001 - any failure of the warm start: start afresh
            model = build_model(x, y)
    _maximise_likelihood(model, FIT_STEPS)
    return model


def valid(space: Space, units: np.ndarray) -> np.ndarray:
    """Each point moved to the configuration it decodes to (ints rounded, one choice hot)."""
    return space.snap_units(units)


def _raw_points(
    space: Space, best: np.ndarray, rng: np.random.Generator, seed: int, prior: Prior | None
) -> np.ndarray:
    if space.dims <= torch.quasirandom.SobolEngine.MAXDIM:
        sobol = torch.quasirandom.SobolEngine(space.dims, scramble=True, seed=seed)
        points = [sobol.draw(N_QUASI_RANDOM, dtype=_DTYPE).numpy()]
    else:
        points = [rng.random((N_QUASI_RANDOM, space.dims))]
    if prior is not None:
        points.append(np.array([space.to_unit(prior.sample(rng)[0]) for _ in range(N_PRIOR)]))
    if len(best):
        centres = best[rng.integers(len(best), size=N_LOCAL)]
        points.append(np.clip(centres + rng.normal(0, LOCAL_SPREAD, centres.shape), 0, 1))
    return valid(space, np.concatenate(points))


class WeightedLogEI(AcquisitionFunction):
    """Log EI, plus the log probability that every outcome constraint holds, minus the
    predicted log cost: EI weighted by feasibility, per unit of cost."""

    def __init__(
        self,
        model: SingleTaskGP,
        best_f: float,
        constraints: list[SingleTaskGP],
        cost: SingleTaskGP | None,
    ) -> None:
        super().__init__(model)
        self.log_ei = LogExpectedImprovement(model, best_f=best_f)
        self.constraints = torch.nn.ModuleList(constraints)
        self.cost = cost

    def forward(self, X: torch.Tensor) -> torch.Tensor:  # noqa: N803 - BoTorch's name
        value = self.log_ei(X)
        for constraint in self.constraints:
            posterior = constraint.posterior(X)
            mean = posterior.mean.reshape(value.shape)
            spread = posterior.variance.reshape(value.shape).clamp_min(1e-12).sqrt()
            value = value + torch.special.log_ndtr(-mean / spread)
        if self.cost is not None:
            value = value - self.cost.posterior(X).mean.reshape(value.shape)
        return value


class Chooser:
    """Picks candidates one by one from a fitted model, fantasising each choice."""

    def __init__(
        self,
        model: SingleTaskGP,
        data: ModelInput,
        best_f: float,
        incumbents: np.ndarray,
        constraints: list[SingleTaskGP] | None = None,
        cost: SingleTaskGP | None = None,
    ) -> None:
        self.base = model
        self.model = model
        self.data = data
        self.best_f = best_f
        self.constraint_models = constraints or []
        self.cost_model = cost
        # The best configurations at the target (unit cube), whose neighbourhoods are searched.
        self.incumbents = incumbents
        self.dims = data.space.dims
        self.pending = torch.empty(0, self.dims + 1, dtype=_DTYPE)

    def _at_target(self, units: np.ndarray | torch.Tensor) -> torch.Tensor:
        units = torch.as_tensor(units, dtype=_DTYPE).reshape(-1, self.dims)
        target = torch.full((len(units), 1), self.data.target, dtype=_DTYPE)
        return torch.cat([units, target], dim=-1)

    def add_pending(self, units: np.ndarray) -> None:
        """Condition the model on ``units`` at the target, valued at the base model's mean;
        a believed value above the incumbent becomes the incumbent, as an observed one would,
        so the next candidate is not chosen next to this one."""
        if not len(units):
            return
        self.pending = torch.cat([self.pending, self._at_target(units)])
        with torch.no_grad():
            self.base.posterior(self.pending[:1])  # fills the caches conditioning needs
            mean = self.base.posterior(self.pending).mean
        self.model = self.base.condition_on_observations(self.pending, mean)
        self.best_f = max(self.best_f, float(mean.max()))

    def acquisition(self) -> FixedFeatureAcquisitionFunction:
        if self.constraint_models or self.cost_model is not None:
            base: AcquisitionFunction = WeightedLogEI(
                self.model, self.best_f, self.constraint_models, self.cost_model
            )
        else:
            base = LogExpectedImprovement(self.model, best_f=self.best_f)
        return FixedFeatureAcquisitionFunction(
            base,
            d=self.dims + 1,
            columns=[self.dims],
            values=[self.data.target],
        )

    def _apart(self, units: np.ndarray) -> np.ndarray:
        """Which of ``units`` keep the minimum distance from every pending point."""
        if not len(self.pending):
            return np.ones(len(units), dtype=bool)
        held = self.pending[:, :-1].numpy()
        distances = np.linalg.norm(units[:, None, :] - held[None, :, :], axis=-1)
        return distances.min(axis=1) >= min_distance(self.dims)

    def _scores(
        self, acquisition: FixedFeatureAcquisitionFunction, units: np.ndarray
    ) -> np.ndarray:
        with torch.no_grad():
            scores = acquisition(torch.as_tensor(units, dtype=_DTYPE).unsqueeze(1)).numpy()
        if self.data.prior is not None and self.data.prior_power > 0:
            scores = scores + self.data.prior_power * self.data.prior.log_density(units)
        return np.where(self._apart(units), scores, -np.inf)

    def choose(self, raw: np.ndarray, refine: bool) -> np.ndarray | None:
        """The best valid point away from the pending ones: the best scored raw point, or with
        ``refine`` the best few refined and rounded; None when every raw point is too close to
        a pending one."""
        acquisition = self.acquisition()
        scores = self._scores(acquisition, raw)
        ranked = np.argsort(-scores)[:N_REFINE]
        starts = raw[ranked[np.isfinite(scores[ranked])]]
        if not len(starts) or not refine:
            return starts[0] if len(starts) else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizationWarning)
            refined, _ = gen_candidates_scipy(
                torch.as_tensor(starts, dtype=_DTYPE).unsqueeze(1),
                acquisition,
                lower_bounds=0.0,
                upper_bounds=1.0,
                options={"maxiter": REFINE_STEPS},
            )
        finalists = np.concatenate([starts, valid(self.data.space, refined.detach().numpy()[:, 0])])
        return finalists[int(np.argmax(self._scores(acquisition, finalists)))]


def fit_chooser(data: ModelInput, warm: dict[str, Any] | None) -> Chooser:
    """Fit the GP on ``data`` (from ``warm`` hyperparameters, if given) and return a chooser
    over it with the trials held by workers already fantasised."""
    x = torch.as_tensor(data.x, dtype=_DTYPE)
    # The model maximises: better (lower signed) values get higher scores.
    scores = -normal_scores(data.y)
    model = fit_model(x, torch.as_tensor(scores, dtype=_DTYPE).unsqueeze(-1), warm)
    model.eval()
    at_target = np.isclose(data.x[:, -1], data.target)
    constraints: list[SingleTaskGP] = []
    feasible = np.ones(len(scores), dtype=bool)
    if data.constraints is not None:
        feasible = (data.constraints <= 0).all(axis=1)
        constraints = [_side_model(x, column) for column in data.constraints.T]
    cost = None if data.log_cost is None else _side_model(x, data.log_cost)
    # The incumbent: the best feasible result at the target (with none, any improvement).
    eligible = at_target & feasible if (at_target & feasible).any() else at_target
    best_f = float(scores[eligible].max() if eligible.any() else scores.min())
    order = np.argsort(-np.where(eligible, scores, -np.inf), kind="stable")
    incumbents = data.x[order[: min(N_BEST, int(eligible.sum()))], :-1]
    if data.log_cost is not None and eligible.any():
        # CARBS: search around the cost-against-objective front instead of the best alone.
        members = np.flatnonzero(eligible)
        front = members[pareto_mask(np.column_stack([data.log_cost, -scores])[members])]
        incumbents = data.x[front[np.argsort(-scores[front])][:N_BEST], :-1]
    chooser = Chooser(model, data, best_f, incumbents, constraints, cost)
    chooser.add_pending(data.pending)
    return chooser


def _side_model(x: torch.Tensor, values: np.ndarray) -> SingleTaskGP:
    """A GP of an outcome constraint's slack or of log cost, on its own values (their scale
    matters: a constraint's threshold is 0), fitted from the priors."""
    model = fit_model(x, torch.as_tensor(values, dtype=_DTYPE).unsqueeze(-1), None)
    model.eval()
    return model


def check_predictions(data: ModelInput, warm: dict[str, Any] | None) -> ModelCheck | None:
    """The online model check (:mod:`hpo.samplers.portfolio`): a GP with the previous fit's
    kernel (``warm``), conditioned on everything recorded before the newest results at the
    target rung, predicts those results; Kendall's tau between its means and the outcomes.

    Nothing is refitted, so the check costs one GP posterior. The held-out results include
    what the model knew of them before: their own lower-rung results, which is exactly where
    misleading low fidelities show. None without a previous fit or enough target results."""
    if warm is None:
        return None
    at_target = np.flatnonzero(np.isclose(data.x[:, -1], data.target))
    held_out = at_target[len(at_target) - min(CHECK_RESULTS, len(at_target) // 2) :]
    if len(held_out) < MIN_CHECK_PAIRS:
        return None
    seen = np.ones(len(data.y), dtype=bool)
    seen[held_out] = False
    x = torch.as_tensor(data.x[seen], dtype=_DTYPE)
    scores = torch.as_tensor(-normal_scores(data.y[seen]), dtype=_DTYPE).unsqueeze(-1)
    model = build_model(x, scores)
    if not _load(model, warm):
        return None
    model.eval()
    with torch.no_grad():
        predicted = model.posterior(torch.as_tensor(data.x[held_out], dtype=_DTYPE)).mean
    return kendall_check(predicted.numpy().ravel(), data.y[held_out])


def fit_and_propose(data: ModelInput, warm: dict[str, Any] | None) -> FitResult:
    """Check the previous model on the newest results, then fit the GP on ``data`` and choose
    ``data.n_candidates`` distinct configurations."""
    started = time.perf_counter()
    torch.manual_seed(data.seed)
    rng = np.random.default_rng(data.seed)
    check = check_predictions(data, warm)
    chooser = fit_chooser(data, warm)
    chosen: list[np.ndarray] = []
    for index in range(data.n_candidates):
        raw = _raw_points(data.space, chooser.incumbents, rng, data.seed + index, data.prior)
        candidate = chooser.choose(raw, refine=index == 0)
        if candidate is None:
            break
        chosen.append(candidate)
        chooser.add_pending(candidate[None, :])
    return FitResult(
        units=np.array(chosen).reshape(len(chosen), data.space.dims),
        hyperparameters=hyperparameters(chooser.base),
        seconds=time.perf_counter() - started,
        check=check,
    )
