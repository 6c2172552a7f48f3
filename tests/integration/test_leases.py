"""Leases over a real coordinator, judged by a clock the tests move: expiry, retries, late
reports from a worker that lost its lease (with or without its worker id), heartbeats for
unknown trials, renewal at start, and stopping a study."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from hpo.client import Client, Study
from hpo.coordinator.server import Coordinator, start_coordinator
from hpo.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from hpo.space import Float
from hpo.storage.types import utcnow
from hpo.v1 import hpo_pb2 as pb
from hpo.vocabulary import TrialState
from tests.conftest import table_rows

LEASE = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def coordinator(sqlite_url: str, clock: Clock) -> Iterator[Coordinator]:
    running = start_coordinator(sqlite_url, port=0, lease_seconds=LEASE, max_retries=1, clock=clock)
    yield running
    running.stop(grace=1)


def connect(coordinator: Coordinator) -> Client:
    return Client(coordinator.address, timeout=10)


def make_study(client: Client, asha_mode: str = "promotion") -> Study:
    """Levels 1, 3, 9; with stopping-type ASHA the first trial runs on past its rungs."""
    return client.create_study(
        "leases",
        {"x": Float(0, 1)},
        r_min=1,
        r_max=9,
        eta=3,
        algorithm="asha",
        asha_mode=asha_mode,
        seed=1,
    )


def records(study: Study) -> dict[int, object]:
    return {trial.number: trial for trial in study.trials()}


def test_heartbeats_and_reports_renew_a_lease_and_a_lapsed_paused_trial_is_released(
    coordinator: Coordinator, clock: Clock
) -> None:
    with connect(coordinator) as first, connect(coordinator) as second:
        study = make_study(first)
        paused = study.suggest()  # lease until +30
        assert paused is not None
        clock.advance(20)
        assert first.heartbeat([paused.id]) == {paused.id: True}  # renewed until +50
        clock.advance(25)  # +45: only the heartbeat kept it alive
        # Held: only the lapse of the lease may release it. Renewed until +75.
        assert paused.report(1, 0.3, hold=True).state is TrialState.PAUSED
        clock.advance(35)  # +80: lapsed
        coordinator.service.expire_leases()
        trial = records(study)[paused.number]
        assert trial.state is TrialState.PAUSED and trial.worker_id == ""  # promotable again
        assert first.heartbeat([paused.id]) == {paused.id: False}
        assert second.heartbeat([]) == {}


def test_an_expired_trial_goes_to_the_next_worker_and_the_late_worker_writes_nothing(
    coordinator: Coordinator, clock: Clock
) -> None:
    with connect(coordinator) as lost, connect(coordinator) as rescuer:
        study = make_study(lost, asha_mode="stopping")
        trial = study.suggest()
        assert trial is not None
        assert not trial.report(1, 0.5).should_stop  # the best at rung 0: runs on
        clock.advance(LEASE + 1)
        before = table_rows(coordinator.store.engine)
        # The sweeper has not run yet (or has): either way the late report is refused.
        with pytest.raises(FailedPreconditionError):
            trial.report(1.5, 0.4)
        with pytest.raises(FailedPreconditionError):
            trial.complete()
        # Leaving the worker id out does not skip the holder and lease checks: it is required.
        for method, request in (
            ("Report", pb.ReportRequest(trial_id=trial.id, resource=1.5, value=0.4)),
            ("Complete", pb.CompleteRequest(trial_id=trial.id)),
            ("Fail", pb.FailRequest(trial_id=trial.id, reason="late")),
        ):
            request.request_id = f"anonymous-{method}"
            with pytest.raises(InvalidArgumentError) as refused:
                lost.call(method, request)
            assert refused.value.field == "worker_id", method
        assert table_rows(coordinator.store.engine) == before
        coordinator.service.expire_leases()
        pending = records(study)[trial.number]
        assert pending.state is TrialState.PENDING and pending.retries == 1
        assert lost.heartbeat([trial.id]) == {trial.id: False}

        resumed = rescuer.get_study("leases").suggest()
        assert resumed is not None and resumed.number == trial.number
        assert resumed.resume_from == 1 and resumed.resource == trial.resource
        assert not resumed.report(2, 0.3).should_stop
        with pytest.raises(FailedPreconditionError, match="held by worker"):
            trial.report(3, 0.2)
        assert [(r.resource, r.value) for r in study.trials(include_reports=True)[0].reports] == [
            (1.0, 0.5),
            (2.0, 0.3),
        ]


def test_a_heartbeat_for_an_unknown_trial_is_not_found_and_renews_nothing(
    coordinator: Coordinator, clock: Clock
) -> None:
    with connect(coordinator) as holder, connect(coordinator) as other:
        trial = make_study(holder).suggest()
        assert trial is not None
        clock.advance(10)  # a heartbeat now would move the lease and the worker's last_seen
        before = table_rows(coordinator.store.engine)
        with pytest.raises(NotFoundError, match=r"^trial_ids\[1\]: trial 999999 does not exist"):
            holder.heartbeat([trial.id, 999_999])
        with pytest.raises(NotFoundError, match=r"^trial_ids\[0\]: "):
            other.heartbeat([999_999])
        assert table_rows(coordinator.store.engine) == before
        # A trial that exists but is another worker's is answered inactive, not refused.
        assert other.heartbeat([trial.id]) == {trial.id: False}
        assert holder.heartbeat([trial.id]) == {trial.id: True}


def test_a_trial_fails_once_its_retries_are_spent(coordinator: Coordinator, clock: Clock) -> None:
    with connect(coordinator) as client:
        study = make_study(client)
        trial = study.suggest()
        assert trial is not None
        clock.advance(LEASE + 1)
        coordinator.service.expire_leases()  # retry 1 of 1
        again = study.suggest()
        assert again is not None and again.number == trial.number
        clock.advance(LEASE + 1)
        coordinator.service.expire_leases()
        failed = records(study)[trial.number]
        assert failed.state is TrialState.FAILED and failed.retries == 1
        assert "retried 1 times" in failed.fail_reason


def test_a_starting_coordinator_renews_the_leases_its_downtime_let_lapse(
    sqlite_url: str, clock: Clock
) -> None:
    first = start_coordinator(sqlite_url, port=0, lease_seconds=LEASE, clock=clock)
    try:
        with connect(first) as client:
            trial = make_study(client).suggest()
            assert trial is not None
    finally:
        first.stop(grace=1)
    clock.advance(LEASE * 2)  # the coordinator was away longer than a lease
    second = start_coordinator(sqlite_url, port=0, lease_seconds=LEASE, clock=clock)
    try:
        with Client(second.address, worker_id=client.worker_id) as same_worker:
            assert same_worker.heartbeat([trial.id]) == {trial.id: True}
    finally:
        second.stop(grace=1)


def test_a_stopped_study_hands_out_nothing_and_stops_its_trials(
    coordinator: Coordinator, clock: Clock
) -> None:
    with connect(coordinator) as client:
        study = make_study(client, asha_mode="stopping")
        lapsed = study.suggest()  # lease until +30
        clock.advance(20)
        running = study.suggest()  # lease until +50
        assert lapsed is not None and running is not None
        clock.advance(15)
        coordinator.service.expire_leases()
        assert records(study)[lapsed.number].state is TrialState.PENDING

        assert study.stop("enough").state == "stopped"
        assert records(study)[lapsed.number].state is TrialState.STOPPED
        decision = running.report(1, 0.5)  # would run on, but the study is stopped
        assert decision.should_stop and decision.reason == "the study was stopped"
        assert records(study)[running.number].state is TrialState.STOPPED
        assert study.suggest() is None
        with pytest.raises(FailedPreconditionError, match="stopped"):
            study.enqueue({"x": 0.5})
        with pytest.raises(FailedPreconditionError, match="stopped"):
            study.extend(27)
        assert study.stop("again").state == "stopped"  # stopping twice changes nothing


@pytest.mark.postgres
def test_coordinators_with_skewed_clocks_judge_leases_by_the_databases_clock(
    postgres_url: str,
) -> None:
    """A second coordinator 45 s ahead refused a live worker's report 6 s after its assignment
    (issue 15, defect 9): leases are now judged by the PostgreSQL server's clock."""
    ahead = start_coordinator(
        postgres_url, port=0, lease_seconds=LEASE, clock=lambda: utcnow() + timedelta(seconds=45)
    )
    on_time = start_coordinator(postgres_url, port=0, lease_seconds=LEASE)
    try:
        with connect(on_time) as first, connect(ahead) as second:
            trial = make_study(first).suggest()
            assert trial is not None
            # The same worker's report lands on the other coordinator.
            outcome = second.call(
                "Report",
                pb.ReportRequest(
                    trial_id=trial.id,
                    resource=1,
                    value=0.5,
                    worker_id=first.worker_id,
                    request_id="skewed",
                ),
            )
            assert outcome.trial_state == pb.TRIAL_PAUSED  # accepted, paused at rung 0
            assert ahead.service.clock.offset < timedelta(seconds=-40)
    finally:
        ahead.stop(grace=1)
        on_time.stop(grace=1)
