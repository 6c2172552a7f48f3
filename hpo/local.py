"""A study decided in memory: the service's scheduler and sampler without a database.

:class:`LocalStudy` applies the same pure decisions as :class:`hpo.service.StudyService`
to a :class:`~hpo.state.StudyState`, in the same order, so the quality
simulator (``benchmarks/quality``) and unit tests exercise exactly what the
coordinator runs, without gRPC or SQL. ``tests/integration/test_local_replay.py``
checks that a study run through the service and through this class makes the
same decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

from hpo.algorithms import make_sampler, make_scheduler, uses_model
from hpo.priors.proposals import Proposal
from hpo.samplers import InlineModels, ModelSource, next_configuration
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
from hpo.state import StudyState, TrialSnapshot
from hpo.vocabulary import STATE_AFTER, Source, TrialState


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
    """``proposals`` are the study's stored proposals beyond the spec's ``enqueue`` (the
    answers of its LLM and transfer priors, resolved by the caller)."""

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
        if proposals:  # after the spec's enqueued configurations, in the order given
            first = len(self.state.proposals)
            for offset, proposal in enumerate(proposals):
                proposal.position = first + offset
            self.state.set_proposals([*self.state.proposals, *proposals])

    @property
    def spec(self) -> StudySpec:
        return self.state.spec

    def suggest(self, worker_id: str) -> LocalAssignment | WaitForResults | StudyFinished:
        """Work for ``worker_id``: a new or promoted trial, or why there is none."""
        job = self.scheduler.next_job(self.state)
        if isinstance(job, NewTrial):
            number = self.state.next_number
            sampler = make_sampler(self.spec, self.models)
            new = next_configuration(self.state, sampler, number, job.bracket)
            if new.proposal is not None:
                new.proposal.trial_number = number
            target_rung = self.scheduler.first_target_rung(new.bracket)
            self.state.add_trial(
                TrialSnapshot(
                    number=number,
                    config=new.config,
                    state=TrialState.RUNNING,
                    bracket=new.bracket,
                    target_rung=target_rung,
                    source=new.source,
                    worker_id=worker_id,
                )
            )
            self._observe()
        elif isinstance(job, Promote | Resume):
            number, target_rung = job.number, job.to_rung
            self.state.assign(number, worker_id, target_rung)
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

    def report(self, number: int, resource: float, value: float) -> ReportDecision:
        decision = self.scheduler.on_report(self.state, number, resource, value)
        self.state.trials[number].last_resource = resource
        if decision.rung is not None:
            self.state.record_rung(number, decision.rung, value)
        next_state = STATE_AFTER.get(decision.action)
        if next_state is not None:
            self.state.set_state(number, next_state)
        if decision.rung is not None:
            self._observe()
        return decision

    def complete(self, number: int) -> None:
        """The worker finished its assignment: a running trial completes, a paused one is
        released for promotion."""
        trial = self.state.trials[number]
        if trial.state is TrialState.RUNNING:
            self.state.set_state(number, TrialState.COMPLETED)
        elif trial.busy:
            self.state.release(number)

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
        self.state.set_proposals([*self.state.proposals, proposal])

    def fail(self, number: int) -> None:
        self.state.set_state(number, TrialState.FAILED)

    def extend(self, r_max: float) -> list[int]:
        """Raise r_max; returns the trials reopened at the old top."""
        reopened = reopened_by_extension(self.state, self.scheduler.top_rung)
        self.state.spec = self.spec.extended(r_max)
        self.scheduler = make_scheduler(self.spec)
        for number in reopened:
            self.state.set_state(number, TrialState.PAUSED)
            self.state.release(number)
        return reopened

    def _observe(self) -> None:
        if uses_model(self.spec):
            self.models.observe(self.state)
