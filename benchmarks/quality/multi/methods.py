"""The methods compared, as policies of :mod:`benchmarks.quality.multi.simulator`.

hpo's run through :class:`hpo.local.LocalStudy` with the study spec a user would write
(``objectives``, ``constraints``, ``cost``) and the suite's clocked GP fits
(:class:`benchmarks.quality.methods.HpoPolicy`, whose driving this reuses):

* ``random``, ``asha`` (MO-ASHA, random sampling, where there are several objectives or a
  constraint) and ``gp-hyperband`` (hpo's default, model-based);
* ``gp-hyperband-no-constraint`` (the constrained problem): the same algorithm with the
  constraint left out of the spec, so neither the scheduler nor the model knows of it;
* ``gp-hyperband-no-cost`` (the cost problem): the same without the cost metric.

Optuna's run through ask and tell, one trial per worker at a time (asynchronous):

* ``optuna-nsga2``: ``NSGAIISampler`` with a population of 20 (Optuna's default, 50, is more
  trials than the default budget of 40 ``r_max`` gives it: every trial would come from the
  random first generation);
* ``optuna-tpe``: ``TPESampler`` with ``constant_liar`` for the parallel workers, as in the
  suite.

On the constrained problem the constraint reaches Optuna when a trial ends (completed or
pruned), through ``Trial.set_constraint`` (Optuna 5, which deprecates ``constraints_func``) or,
in Optuna 4, a user attribute read by the sampler's ``constraints_func``; both samplers then
rank infeasible trials below feasible ones. Optuna has no pruner for several objectives, so
there every trial trains to ``r_max``; with one objective both use the Hyperband pruner at the
suite's rung levels, as the suite's ``optuna-tpe-hyperband``. Optuna has no notion of cost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import optuna

from benchmarks.quality.clocked_models import ClockedModels
from benchmarks.quality.methods import SECONDS_PER_UNIT, HpoPolicy, OptunaPolicy
from benchmarks.quality.multi.problems import MultiProblem
from benchmarks.quality.multi.simulator import MultiPolicy
from benchmarks.quality.simulator import Job, SimulatedClock
from hpo.local import LocalStudy
from hpo.spec import Algorithm, StudySpec
from hpo.vocabulary import Action

NSGA2_POPULATION = 20
SET_CONSTRAINT = hasattr(optuna.trial.Trial, "set_constraint")  # Optuna 5


def spec_json(
    problem: MultiProblem,
    algorithm: Algorithm,
    seed: int,
    constraints: bool = True,
    cost: bool = True,
) -> dict:
    """The study spec (JSON form) a user would write for ``problem``; ``constraints`` and
    ``cost`` say whether the problem's constraints and cost metric are declared."""
    resource = problem.resource
    spec: dict = {
        "name": f"{problem.name}-{algorithm.value}",
        "space": problem.space.to_json(),
        "resource": {
            "name": resource.name,
            "r_min": resource.r_min,
            "r_max": resource.r_max,
            "eta": resource.eta,
        },
        "algorithm": algorithm.value,
        "seed": seed,
    }
    objectives = [{"metric": metric, "direction": "minimize"} for metric in problem.objectives]
    if len(objectives) > 1:
        spec["objectives"] = objectives
    else:
        spec["objective"] = objectives[0]
    if constraints and problem.constraints:
        # hpo wants a constraint's metric declared among the study's metrics (the issue's
        # contract did not say so; hpo/spec.py refuses an undeclared one).
        spec["metrics"] = [metric for metric, _ in problem.constraints]
        spec["constraints"] = [
            {"metric": metric, "op": "<=", "bound": bound} for metric, bound in problem.constraints
        ]
    if cost and problem.cost_metric is not None:
        spec["cost"] = {"metric": problem.cost_metric}
    return spec


def declared_metrics(spec: dict) -> tuple[str, ...]:
    """The metrics a report must name under ``spec``: objectives, constraints, cost."""
    objectives = spec.get("objectives") or [spec["objective"]]
    names = [entry["metric"] for entry in objectives] + list(spec.get("metrics", ()))
    names += [entry["metric"] for entry in spec.get("constraints", ())]
    if "cost" in spec:
        names.append(spec["cost"]["metric"])
    return tuple(dict.fromkeys(names))


class HpoMultiPolicy(HpoPolicy):
    """One of hpo's algorithms with several outcomes: the suite's :class:`HpoPolicy` (its
    suggest, finish and clocked fits), built from a spec with objectives, constraints and cost,
    reporting a mapping of metrics (a plain number where only one objective is declared)."""

    def __init__(self, spec: dict) -> None:
        self.spec_json = spec
        self.models = ClockedModels(SimulatedClock(), SECONDS_PER_UNIT)
        self.study = LocalStudy(StudySpec.from_json(spec), self.models)
        self._done = False
        self.reported = declared_metrics(spec)

    def report(self, job: Job, resource: float, outcomes: Mapping[str, float]) -> bool:  # type: ignore[override]
        assert isinstance(job.key, int)
        if len(self.reported) == 1:
            value: float | dict[str, float] = outcomes[self.reported[0]]
        else:
            value = {metric: outcomes[metric] for metric in self.reported}
        decision = self.study.report(job.key, resource, value)
        return decision.action is Action.CONTINUE


class OptunaMultiPolicy(OptunaPolicy):
    """An Optuna sampler with one or more objectives and the problem's constraints, asked and
    told as a worker would (the suite's :class:`OptunaPolicy`: its suggest and config)."""

    def __init__(self, problem: MultiProblem, seed: int, sampler: str) -> None:
        optuna.logging.set_verbosity(logging.WARNING)
        self.problem = problem  # type: ignore[assignment]
        constraints_func = None
        if problem.constraints and not SET_CONSTRAINT:

            def constraints_func(trial: optuna.trial.FrozenTrial) -> list[float]:
                # Optuna's convention: feasible when every value is <= 0.
                return [trial.user_attrs[m] - bound for m, bound in problem.constraints]

        chosen: optuna.samplers.BaseSampler
        if sampler == "nsga2":
            chosen = optuna.samplers.NSGAIISampler(
                seed=seed, population_size=NSGA2_POPULATION, constraints_func=constraints_func
            )
        else:
            chosen = optuna.samplers.TPESampler(
                seed=seed, constant_liar=True, constraints_func=constraints_func
            )
        self.several = len(problem.objectives) > 1
        pruner: optuna.pruners.BasePruner = (
            optuna.pruners.NopPruner()
            if self.several
            else optuna.pruners.HyperbandPruner(
                min_resource=int(problem.resource.r_min),
                max_resource=int(problem.resource.r_max),
                reduction_factor=int(problem.resource.eta),
            )
        )
        self.study = optuna.create_study(
            directions=["minimize"] * len(problem.objectives), sampler=chosen, pruner=pruner
        )

    def report(self, job: Job, resource: float, outcomes: Mapping[str, float]) -> bool:  # type: ignore[override]
        trial = job.key
        assert isinstance(trial, optuna.Trial)
        values = [outcomes[metric] for metric in self.problem.objectives]  # type: ignore[attr-defined]
        if resource >= job.target:
            self._constrain(trial, outcomes)
            self.study.tell(trial, values)
            return False
        if not self.several:
            trial.report(values[0], int(resource))
            if trial.should_prune():
                self._constrain(trial, outcomes)
                self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                return False
        return True

    def _constrain(self, trial: optuna.Trial, outcomes: Mapping[str, float]) -> None:
        """The constraint metrics of the trial's last report, given just before it is told
        (Optuna keeps only the first value ``set_constraint`` is given)."""
        for metric, bound in self.problem.constraints:  # type: ignore[attr-defined]
            if SET_CONSTRAINT:  # Optuna's convention: feasible when <= 0
                trial.set_constraint(metric, outcomes[metric] - bound)
            else:
                trial.set_user_attr(metric, outcomes[metric])


Factory = Callable[[MultiProblem, int], MultiPolicy]


def hpo_method(algorithm: Algorithm, constraints: bool = True, cost: bool = True) -> Factory:
    def make(problem: MultiProblem, seed: int) -> MultiPolicy:
        return HpoMultiPolicy(spec_json(problem, algorithm, seed, constraints, cost))

    return make


def optuna_method(sampler: str) -> Factory:
    def make(problem: MultiProblem, seed: int) -> MultiPolicy:
        return OptunaMultiPolicy(problem, seed, sampler)

    return make


METHODS: dict[str, Factory] = {
    "random": hpo_method(Algorithm.RANDOM),
    "asha": hpo_method(Algorithm.ASHA),
    "gp-hyperband": hpo_method(Algorithm.GP_HYPERBAND),
    "gp-hyperband-no-constraint": hpo_method(Algorithm.GP_HYPERBAND, constraints=False),
    "gp-hyperband-no-cost": hpo_method(Algorithm.GP_HYPERBAND, cost=False),
    "optuna-nsga2": optuna_method("nsga2"),
    "optuna-tpe": optuna_method("tpe"),
}
HPO_METHODS = ("random", "asha", "gp-hyperband")
ABLATIONS = ("gp-hyperband-no-constraint", "gp-hyperband-no-cost")
OPTUNA_METHODS = ("optuna-nsga2", "optuna-tpe")


def applies(method: str, problem: MultiProblem) -> bool:
    """Whether ``method`` is run on ``problem``: an ablation only where it removes something."""
    if method == "gp-hyperband-no-constraint":
        return bool(problem.constraints)
    if method == "gp-hyperband-no-cost":
        return problem.cost_metric is not None
    return method in METHODS
