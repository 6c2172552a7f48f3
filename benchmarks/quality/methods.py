"""The optimizers the quality benchmark compares, as simulator policies.

hpo's methods run through :class:`hpo.local.LocalStudy`, the service's own
scheduler and sampler without a database; the GP fits inline (in the
simulator's thread) on the schedule the coordinator follows in the background.
Optuna, the outside reference, runs TPE (``constant_liar`` for parallel
workers) with its Hyperband pruner, reporting at the same rung levels, and
random search with its successive-halving pruner (ASHA's stopping variant).

The other peers (Syne Tune's MOBSTER, Hyper-Tune, BOHB and ASHA, SMAC3's
multi-fidelity facade and DEHB) run in their own virtual environments, each
behind a runner subprocess (see :mod:`benchmarks.quality.peers`); their
policy is imported only when one is made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import optuna

from benchmarks.quality.clocked_models import ClockedModels
from benchmarks.quality.peers.envs import PEER_METHODS
from benchmarks.quality.problems import Problem
from benchmarks.quality.simulator import Job, Policy, SimulatedClock
from hpo.local import LocalAssignment, LocalStudy
from hpo.schedulers import StudyFinished
from hpo.space import Categorical, Config, Float, Int
from hpo.spec import Algorithm, DecisionBasis, StudySpec
from hpo.vocabulary import Action

# Seconds of training one resource unit stands for: what converts a fit's wall-clock seconds
# into simulated time (benchmarks/quality/clocked_models.py). With r_max 81, a full-resource
# trial is 81 s and a first-rung trial 1 s: short trials, where background fits have the
# least time to keep up.
SECONDS_PER_UNIT = 1.0


class HpoPolicy:
    """One of hpo's algorithms on a LocalStudy; the GP fits follow the coordinator's schedule
    and take simulated time (:class:`ClockedModels`)."""

    def __init__(
        self,
        problem: Problem,
        algorithm: Algorithm,
        seed: int,
        priors: tuple[dict, ...] = (),
        decision: DecisionBasis = DecisionBasis.RUNG,
    ) -> None:
        spec = StudySpec(
            name=f"{problem.name}-{algorithm.value}",
            space=problem.space,
            resource=problem.resource,
            algorithm=algorithm,
            seed=seed,
            priors=priors,
            decision=decision,
        )
        self.models = ClockedModels(SimulatedClock(), SECONDS_PER_UNIT)
        self.study = LocalStudy(spec, self.models)
        self._done = False

    def bind_clock(self, clock: SimulatedClock) -> None:
        self.models.clock = clock

    def details(self) -> dict:
        """Where new configurations came from, and what the fits cost and how fresh they were."""
        sources: dict[str, int] = {}
        for trial in self.study.state.trials.values():
            sources[trial.source] = sources.get(trial.source, 0) + 1
        return {
            "sources": sources,
            "fits": len(self.models.stats.seconds),
            "fit_seconds": self.models.stats.seconds,
            "staleness": self.models.stats.staleness,
        }

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
    """An Optuna sampler and pruner, asked and told as a worker would; by default TPE
    (``constant_liar``) with the Hyperband pruner."""

    def __init__(
        self,
        problem: Problem,
        seed: int,
        sampler: optuna.samplers.BaseSampler | None = None,
        pruner: optuna.pruners.BasePruner | None = None,
    ) -> None:
        optuna.logging.set_verbosity(logging.WARNING)
        self.problem = problem
        if sampler is None:
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
        if pruner is None:
            pruner = optuna.pruners.HyperbandPruner(
                min_resource=int(problem.resource.r_min),
                max_resource=int(problem.resource.r_max),
                reduction_factor=int(problem.resource.eta),
            )
        self.study = optuna.create_study(sampler=sampler, pruner=pruner)

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


def optuna_random_sh(problem: Problem, seed: int) -> OptunaPolicy:
    """Optuna's random sampler with its successive-halving pruner: rungs at r_min * eta**k, the
    top 1/eta of each rung goes on (asynchronous successive halving, stopping variant)."""
    return OptunaPolicy(
        problem,
        seed,
        sampler=optuna.samplers.RandomSampler(seed=seed),
        pruner=optuna.pruners.SuccessiveHalvingPruner(
            min_resource=int(problem.resource.r_min),
            reduction_factor=int(problem.resource.eta),
            min_early_stopping_rate=0,
        ),
    )


def peer(method: str) -> Callable[[Problem, int], Policy]:
    """A peer library's method, run by its runner in the peer's own virtual environment."""

    def make(problem: Problem, seed: int) -> Policy:
        from benchmarks.quality.peers.policy import PeerPolicy  # only when a peer runs

        return PeerPolicy(problem, method, seed)

    return make


# How far a "near" prior sits from the best configuration, in each numeric unit coordinate.
NEAR_OFFSET = 0.1


def near(problem: Problem, best: Config) -> Config:
    """``best`` moved by NEAR_OFFSET along every numeric unit coordinate (a fixed pattern of
    signs, reflected at the cube's faces; categorical choices kept): a prior close to the
    optimum but not at it, as a user's well-informed guess is."""
    unit = problem.space.to_unit(best)
    signs = np.random.default_rng(0).choice([-1.0, 1.0], size=unit.size)
    moved = unit + NEAR_OFFSET * signs
    outside = (moved < 0.0) | (moved > 1.0)
    moved[outside] = unit[outside] - NEAR_OFFSET * signs[outside]
    return problem.space.from_unit(moved)


def with_prior(which: str) -> Callable[[Problem, int], HpoPolicy]:
    """gp-hyperband with a user prior (medium confidence) at the problem's best configuration
    (``good``), near it (``near``: :func:`near`) or at its worst (``bad``)."""

    def make(problem: Problem, seed: int) -> HpoPolicy:
        best, worst = problem.best_and_worst()
        centre = {"good": best, "near": near(problem, best), "bad": worst}[which]
        prior = {"kind": "point", "config": centre, "confidence": "medium"}
        return HpoPolicy(problem, Algorithm.GP_HYPERBAND, seed, priors=(prior,))

    return make


METHODS: dict[str, Callable[[Problem, int], Policy]] = {
    "random": lambda problem, seed: HpoPolicy(problem, Algorithm.RANDOM, seed),
    "asha": lambda problem, seed: HpoPolicy(problem, Algorithm.ASHA, seed),
    # ASHA ranking by the value at r_max each curve predicts (docs/curves.md; run --dense).
    "asha-curve": lambda problem, seed: HpoPolicy(
        problem, Algorithm.ASHA, seed, decision=DecisionBasis.CURVE
    ),
    "hyperband": lambda problem, seed: HpoPolicy(problem, Algorithm.HYPERBAND, seed),
    "gp-hyperband": lambda problem, seed: HpoPolicy(problem, Algorithm.GP_HYPERBAND, seed),
    # The default deciding by curves (run --dense).
    "gp-hyperband-curve": lambda problem, seed: HpoPolicy(
        problem, Algorithm.GP_HYPERBAND, seed, decision=DecisionBasis.CURVE
    ),
    "optuna-tpe-hyperband": OptunaPolicy,
    "gp-hyperband+good-prior": with_prior("good"),
    "gp-hyperband+near-prior": with_prior("near"),
    "gp-hyperband+bad-prior": with_prior("bad"),
    "optuna-random-sh": optuna_random_sh,
    # Syne Tune (st-*), SMAC3 (smac-mf) and DEHB (dehb): see benchmarks.quality.peers.
    **{method: peer(method) for method in PEER_METHODS},
}
