"""The optimizers the quality benchmark compares, as simulator policies.

hpo's methods run through :class:`hpo.local.LocalStudy`, the service's own
scheduler and sampler without a database; the GP fits inline (in the
simulator's thread) on the schedule the coordinator follows in the background.
Optuna, the outside reference, runs TPE (``constant_liar`` for parallel
workers) with its Hyperband pruner, reporting at the same rung levels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import optuna

from benchmarks.quality.problems import Problem
from benchmarks.quality.simulator import Job
from hpo.local import LocalAssignment, LocalStudy
from hpo.samplers import InlineModels
from hpo.schedulers import Action, StudyFinished
from hpo.space import Categorical, Config, Float, Int
from hpo.spec import Algorithm, StudySpec

# The benchmark refits when the data grew by this share (the coordinator refits on every new
# result in the background; inline, that would make a run take hours).
BENCHMARK_REFIT_FRACTION = 0.05


class HpoPolicy:
    """One of hpo's algorithms on a LocalStudy."""

    def __init__(
        self, problem: Problem, algorithm: Algorithm, seed: int, priors: tuple[dict, ...] = ()
    ) -> None:
        spec = StudySpec(
            name=f"{problem.name}-{algorithm.value}",
            space=problem.space,
            resource=problem.resource,
            algorithm=algorithm,
            seed=seed,
            priors=priors,
        )
        self.study = LocalStudy(spec, InlineModels(refit_fraction=BENCHMARK_REFIT_FRACTION))
        self._done = False

    def suggest(self, worker: int) -> Job | None:
        job = self.study.suggest(f"worker-{worker}")
        if isinstance(job, LocalAssignment):
            return Job(job.number, job.config, job.resume_from, job.resource)
        self._done = isinstance(job, StudyFinished)
        return None

    def report(self, job: Job, resource: float, value: float) -> bool:
        assert isinstance(job.key, int)
        return self.study.report(job.key, resource, value).action is Action.CONTINUE

    def finish(self, job: Job) -> None:
        assert isinstance(job.key, int)
        self.study.complete(job.key)

    def finished(self) -> bool:
        return self._done


class OptunaPolicy:
    """Optuna's TPE with its Hyperband pruner, asked and told as a worker would."""

    def __init__(self, problem: Problem, seed: int) -> None:
        optuna.logging.set_verbosity(logging.WARNING)
        self.problem = problem
        self.study = optuna.create_study(
            sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=True),
            pruner=optuna.pruners.HyperbandPruner(
                min_resource=int(problem.resource.r_min),
                max_resource=int(problem.resource.r_max),
                reduction_factor=int(problem.resource.eta),
            ),
        )

    def _config(self, trial: optuna.Trial) -> Config:
        config: Config = {}
        for name, parameter in self.problem.space.items():
            if isinstance(parameter, Float):
                config[name] = trial.suggest_float(
                    name, parameter.low, parameter.high, log=parameter.log
                )
            elif isinstance(parameter, Int):
                config[name] = trial.suggest_int(
                    name, parameter.low, parameter.high, log=parameter.log
                )
            else:
                assert isinstance(parameter, Categorical)
                config[name] = trial.suggest_categorical(name, list(parameter.choices))
        return config

    def suggest(self, worker: int) -> Job | None:
        trial = self.study.ask()
        return Job(trial, self._config(trial), 0.0, self.problem.resource.r_max)

    def report(self, job: Job, resource: float, value: float) -> bool:
        trial = job.key
        assert isinstance(trial, optuna.Trial)
        if resource >= job.target:
            self.study.tell(trial, value)
            return False
        trial.report(value, int(resource))
        if trial.should_prune():
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return False
        return True

    def finish(self, job: Job) -> None:
        """Optuna's trial was told when it ended; nothing is left to do."""

    def finished(self) -> bool:
        return False


def with_prior(which: str) -> Callable[[Problem, int], HpoPolicy]:
    """gp-hyperband with a user prior (medium confidence) at the problem's best configuration
    (``good``) or at its worst (``bad``)."""

    def make(problem: Problem, seed: int) -> HpoPolicy:
        best, worst = problem.best_and_worst()
        centre = best if which == "good" else worst
        prior = {"kind": "point", "config": centre, "confidence": "medium"}
        return HpoPolicy(problem, Algorithm.GP_HYPERBAND, seed, priors=(prior,))

    return make


METHODS: dict[str, Callable[[Problem, int], HpoPolicy | OptunaPolicy]] = {
    "random": lambda problem, seed: HpoPolicy(problem, Algorithm.RANDOM, seed),
    "asha": lambda problem, seed: HpoPolicy(problem, Algorithm.ASHA, seed),
    "hyperband": lambda problem, seed: HpoPolicy(problem, Algorithm.HYPERBAND, seed),
    "gp-hyperband": lambda problem, seed: HpoPolicy(problem, Algorithm.GP_HYPERBAND, seed),
    "optuna-tpe-hyperband": OptunaPolicy,
    "gp-hyperband+good-prior": with_prior("good"),
    "gp-hyperband+bad-prior": with_prior("bad"),
}
