"""A study decided in memory: the service's scheduler, sampler and engine without a database.

:class:`LocalStudy` is a thin driver: it asks the scheduler, turns the decision into effects
with :mod:`hpo.engine` and applies them at once, as :class:`hpo.service.StudyService` does
after each commit. So the quality simulator (``benchmarks/quality``) and unit tests exercise
exactly what the coordinator runs, without gRPC or SQL;
``tests/integration/test_local_replay.py`` checks that a study run through the service (its
rows written, reloaded and decided from) and through this class makes the same decisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hpo import engine
from hpo.algorithms import make_sampler, make_scheduler, uses_model
from hpo.outcomes import RESOURCE_METRIC, CostSource, outcome_of
from hpo.priors.proposals import Proposal, point_modes
from hpo.samplers import InlineModels, ModelSource
from hpo.schedulers import (
    NewTrial,
    Promote,
    ReportDecision,
    Resume,
    StudyFinished,
    WaitForResults,
    reopened_by_extension,
)
from hpo.space import Config
from hpo.spec import StudySpec
from hpo.state import StudyState
from hpo.vocabulary import Source, TrialState


@dataclass(frozen=True)
class LocalAssignment:
    """Train trial ``number`` from ``resume_from`` to ``resource``."""

    number: int
    config: Config
    resume_from: float
    resource: float
    bracket: int
    source: str


class LocalStudy:
    """``proposals`` are the study's stored proposals beyond the spec's ``enqueue`` and its
    complete point priors (the answers of its LLM and transfer priors, resolved by the
    caller). They queue after the point priors' configurations, as in the service, which
    stores those when it creates the study and an LLM's answer when it arrives."""

    def __init__(
        self,
        spec: StudySpec,
        models: ModelSource | None = None,
        proposals: list[Proposal] | None = None,
    ) -> None:
        self.state = StudyState(spec)
        self.scheduler = make_scheduler(spec)
        self.models = models if models is not None else InlineModels()
        for config in spec.enqueue:
            self.enqueue(config)
        first = len(self.state.proposals)  # after the spec's enqueued configurations
        modes = [
            Proposal(first + offset, first + offset, config, Source.PRIOR, True, index)
            for offset, (index, config) in enumerate(point_modes(spec))
        ]
        given = proposals or []
        for offset, proposal in enumerate(given, start=first + len(modes)):
            proposal.position = offset
        self.state.set_proposals([*self.state.proposals, *modes, *given])

    @property
    def spec(self) -> StudySpec:
        return self.state.spec

    def suggest(self, worker_id: str) -> LocalAssignment | WaitForResults | StudyFinished:
        """Work for ``worker_id``: a new or promoted trial, or why there is none."""
        job = self.scheduler.next_job(self.state)
        if isinstance(job, NewTrial):
            sampler = make_sampler(self.spec, self.models)
            started = engine.new_trial(self.state, self.scheduler, sampler, job, worker_id)
            self._apply([started], observe=True)
            number, target_rung = started.number, started.target_rung
        elif isinstance(job, Promote | Resume):
            assigned = engine.reassignment(job, worker_id)
            self._apply([assigned])
            number, target_rung = assigned.number, assigned.target_rung
        else:
            return job
        trial = self.state.trials[number]
        return LocalAssignment(
            number=number,
            config=trial.config,
            resume_from=trial.last_resource or 0.0,
            resource=self.scheduler.levels[target_rung],
            bracket=trial.bracket,
            source=trial.source,
        )

    def report(
        self, number: int, resource: float, value: float | Mapping[str, float]
    ) -> ReportDecision:
        """Record a result: a number (one objective, no other metric) or every metric of the
        study by name, checked as the coordinator checks them."""
        metrics = value if isinstance(value, Mapping) else None
        spec = self.spec
        outcome = outcome_of(
            spec.objectives, spec.reported_metrics, None if metrics else value, metrics
        )
        reported = dict(outcome.metrics) or None
        if spec.cost is not None and spec.cost.source is CostSource.RESOURCE:
            reported = {**(reported or {}), RESOURCE_METRIC: resource}
        decision = self.scheduler.on_report(self.state, number, resource, outcome.value, reported)
        effects = engine.report_effects(decision, number, resource, outcome.value, reported)
        self._apply(effects, observe=decision.rung is not None)
        return decision

    def complete(self, number: int) -> None:
        """The worker finished its assignment: a running trial completes, a paused one is
        released for promotion."""
        done = engine.assignment_done(self.state, number)
        if done is not None:
            self._apply([done])

    def enqueue(self, config: Config) -> None:
        """Run ``config`` before any other new configuration (validated against the space)."""
        position = len(self.state.proposals)
        proposal = Proposal(
            id=position,
            position=position,
            config=self.spec.space.validate(config),
            source=Source.USER,
            run_first=True,
        )
        self._apply([engine.ProposalQueued(proposal)])

    def fail(self, number: int) -> None:
        self._apply([engine.StateChanged(number, TrialState.FAILED)])

    def extend(self, r_max: float) -> list[int]:
        """Raise r_max; returns the trials reopened at the old top."""
        numbers = reopened_by_extension(self.state, self.scheduler.top_rung)
        self.state.spec = self.spec.extended(r_max)
        self.scheduler = make_scheduler(self.spec)
        self._apply(engine.reopened(numbers))
        return numbers

    def _apply(self, effects: list[engine.Effect], observe: bool = False) -> None:
        engine.apply(self.state, effects)
        if observe and uses_model(self.spec):
            self.models.observe(self.state)
