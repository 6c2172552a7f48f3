"""The study store's contract (hpo.study_store), one suite for every store: in memory, SQLite
and PostgreSQL. A store that passes it can stand under the service; the service's own tests
(tests/storage/test_store.py and the integration tests) then run on the real stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from hpo.errors import ConflictError
from hpo.priors.llm import LLMExchange
from hpo.records import TrialRecord
from hpo.space import Float, Space
from hpo.spec import Objective, Resource, StudySpec
from hpo.storage.memory import MemoryStudyStore
from hpo.storage.migrate import upgrade
from hpo.storage.sql_store import SqlStudyStore
from hpo.study_store import Decision, NewReport, NewTrial, StudyStore, state_of
from hpo.vocabulary import DecisionKind, Source, StudyStatus, TrialState

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
LEASE = timedelta(minutes=5)


def spec(name: str = "s", direction: str = "minimize") -> StudySpec:
    return StudySpec(
        name=name,
        space=Space({"x": Float(0, 1)}),
        resource=Resource(1, 9, 3),
        objective=Objective("loss", direction),
    )


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Iterator[StudyStore]:
    if request.param == "memory":
        yield MemoryStudyStore()
        return
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    sql = SqlStudyStore(url)
    upgrade(sql.engine)
    yield sql
    sql.close()


def new_trial(study_id: int, number: int, worker: str = "w", x: float = 0.5) -> NewTrial:
    return NewTrial(
        study_id=study_id,
        number=number,
        config={"x": x},
        bracket=0,
        target_rung=0,
        target_resource=1.0,
        source=Source.RANDOM,
        worker_id=worker,
        lease_expires_at=NOW + LEASE,
        created_at=NOW,
    )


def report(study_id: int, trial_id: int, value: float, rung: int | None, resource: float,
           request_id: str) -> NewReport:  # fmt: skip
    return NewReport(
        study_id=study_id,
        trial_id=trial_id,
        resource=resource,
        value=value,
        rung=rung,
        action="pause",
        next_resource=None,
        request_id=request_id,
        worker_id="w",
        created_at=NOW,
    )


def test_a_study_is_created_found_and_saved(store: StudyStore) -> None:
    with store.write() as tx:
        study = tx.insert_study(spec("a"), NOW)
    assert (study.name, study.status, study.version) == ("a", StudyStatus.RUNNING, 0)
    with store.write() as tx:
        locked = tx.lock_study(study.id)
        assert (locked.id, locked.name, locked.status, locked.version) == (
            study.id,
            "a",
            StudyStatus.RUNNING,
            0,
        )
        tx.save_study(study.id, NOW, version=3, status=StudyStatus.STOPPED)
    with store.read() as tx:
        saved = tx.study_by_name("a")
        assert tx.study_by_name("missing") is None
    assert saved is not None
    assert (saved.version, saved.status) == (3, StudyStatus.STOPPED)
    assert StudySpec.from_json(saved.spec_json).matches(spec("a"))
    with store.read() as tx:
        assert tx.lock_study(study.id).version == 3


def test_a_taken_name_is_a_conflict_and_writes_nothing(store: StudyStore) -> None:
    with store.write() as tx:
        tx.insert_study(spec("a"), NOW)
    with pytest.raises(ConflictError), store.write() as tx:
        tx.insert_study(spec("a"), NOW)
    assert [row.name for row, _ in store.list_studies()] == ["a"]


def test_a_transaction_that_raises_leaves_nothing(store: StudyStore) -> None:
    with store.write() as tx:
        study = tx.insert_study(spec(), NOW)
    with pytest.raises(RuntimeError), store.write() as tx:
        trial = tx.insert_trial(new_trial(study.id, 0))
        tx.update_trial(trial.id, NOW, state=TrialState.COMPLETED.value)
        tx.log(Decision(study.id, DecisionKind.NEW, NOW, trial.id, request_id="r1"))
        tx.save_study(study.id, NOW, version=1)
        raise RuntimeError("the decision failed")
    assert store.counts(study.id) == {}
    with store.read() as tx:
        assert tx.lock_study(study.id).version == 0
    with store.read() as tx:
        assert tx.request_id_uses("r1") == set()


def test_trials_are_stored_changed_and_listed(store: StudyStore) -> None:
    with store.write() as tx:
        study = tx.insert_study(spec(), NOW)
        first = tx.insert_trial(new_trial(study.id, 0, x=0.25))
        second = tx.insert_trial(new_trial(study.id, 1))
        tx.update_trial(first.id, NOW + LEASE, state=TrialState.PAUSED.value, rung=0)
    assert isinstance(first, TrialRecord)
    assert (first.study, first.number, first.config, first.state) == (
        "s",
        0,
        {"x": 0.25},
        TrialState.RUNNING,
    )
    with store.read() as tx:
        changed = tx.trial(study.id, 0)
    assert (changed.state, changed.rung, changed.updated_at) == (
        TrialState.PAUSED,
        0,
        NOW + LEASE,
    )
    assert store.trial_key(second.id) == (study.id, 1)
    assert store.trial_key(10**9) is None
    assert store.counts(study.id) == {"paused": 1, "running": 1}
    page, more = store.trials_page(study, [], 0, 1, include_reports=False)
    assert ([trial.number for trial in page], more) == ([0], True)
    page, more = store.trials_page(study, [TrialState.RUNNING], 0, 10, include_reports=False)
    assert ([trial.number for trial in page], more) == ([1], False)
    with pytest.raises(ConflictError), store.write() as tx:
        tx.insert_trial(new_trial(study.id, 1))


def test_reports_rebuild_the_state_and_answer_best(store: StudyStore) -> None:
    with store.write() as tx:
        study = tx.insert_study(spec(direction="maximize"), NOW)
        trials = [tx.insert_trial(new_trial(study.id, number)) for number in range(3)]
        for trial, value in zip(trials, [0.2, 0.9, 0.5], strict=True):
            tx.insert_report(report(study.id, trial.id, value, 0, 1.0, f"r{trial.number}"))
        tx.insert_report(report(study.id, trials[2].id, 0.1, 1, 3.0, "top"))
        tx.insert_report(report(study.id, trials[0].id, 0.95, None, 2.0, "between"))
    best = store.best(study)
    assert best is not None
    # The highest rung with results wins, whatever the values below it.
    assert (best.trial.number, best.value, best.resource) == (2, 0.1, 3.0)
    with store.read() as tx:
        state = state_of(tx.study_contents(study.id))
        assert tx.report_by_request("top") is not None
        assert tx.request_id_uses("top") == {"report"}
    assert sorted(state.trials) == [0, 1, 2]
    assert state.result(1, 0) is not None
    assert state.result(2, 1) is not None
    page, _ = store.trials_page(study, [], 0, 10, include_reports=True)
    assert [report.resource for report in page[0].reports] == [1.0, 2.0]
    with pytest.raises(ConflictError), store.write() as tx:
        tx.insert_report(report(study.id, trials[1].id, 0.3, None, 2.0, "top"))


def test_request_ids_are_found_in_their_table(store: StudyStore) -> None:
    with store.write() as tx:
        study = tx.insert_study(spec(), NOW)
        trial = tx.insert_trial(new_trial(study.id, 0))
        tx.log(Decision(study.id, DecisionKind.NEW, NOW, trial.id, 0, 1.0, "w", request_id="s1"))
        tx.add_proposals(
            study.id, [{"x": 0.1}], source=Source.USER, run_first=True, now=NOW, request_id="e1"
        )
    with store.read() as tx:
        decision = tx.decision_by_request("s1")
        proposal = tx.proposal_by_request("e1")
        assert tx.request_id_uses("s1") == {"decision"}
        assert tx.request_id_uses("e1") == {"proposal"}
        assert tx.decision_by_request("e1") is None
    assert decision is not None
    assert (decision.kind, decision.trial_id, decision.worker_id) == ("new", trial.id, "w")
    assert proposal is not None
    assert (proposal.study_id, proposal.config) == (study.id, {"x": 0.1})
    with pytest.raises(ConflictError), store.write() as tx:
        tx.log(Decision(study.id, DecisionKind.FINISH, NOW, request_id="s1"))


def test_leases_expire_renew_and_are_swept(store: StudyStore) -> None:
    with store.write() as tx:
        study = tx.insert_study(spec(), NOW)
        mine = tx.insert_trial(new_trial(study.id, 0, worker="w"))
        theirs = tx.insert_trial(new_trial(study.id, 1, worker="v"))
    later = NOW + LEASE + timedelta(seconds=1)
    with store.write() as tx:
        assert tx.renew_leases("w", [mine.id, theirs.id], NOW, NOW + 2 * LEASE) == {mine.id}
        assert tx.existing_trials([mine.id, 10**9]) == {mine.id}
    assert store.next_lease_expiry() == NOW + LEASE
    assert store.studies_with_expired_leases(later) == [study.id]
    with store.read() as tx:
        assert tx.expired_trials(study.id, later) == [1]
        assert tx.lease_of(mine.id) == NOW + 2 * LEASE
    with store.write() as tx:
        assert tx.renew_held_leases(NOW + 3 * LEASE) == 2
    assert store.studies_with_expired_leases(later) == []


def test_proposals_link_their_trial_and_exchanges_replay(store: StudyStore) -> None:
    exchange = LLMExchange(
        base_url="http://llm",
        model="m",
        prompt_hash="h" * 64,
        messages=[{"role": "user", "content": "?"}],
        response_format=None,
        raw_answer='{"configs": []}',
        accepted=[{"x": 0.3}],
        rejected=[],
        error=None,
        seconds=0.1,
    )
    with store.write() as tx:
        study = tx.insert_study(spec(), NOW)
        exchange_id = tx.add_exchange(study.id, 0, exchange, None, NOW)
        queued = tx.add_proposals(
            study.id,
            exchange.accepted,
            source=Source.LLM,
            run_first=True,
            now=NOW,
            prior_index=0,
            exchange_id=exchange_id,
        )
        more = tx.add_proposals(study.id, [{"x": 0.7}], source=Source.USER, run_first=True, now=NOW)
        trial = tx.insert_trial(new_trial(study.id, 0, x=0.3))
        tx.link_proposal(queued[0].id, trial.id)
    assert [proposal.position for proposal in queued + more] == [0, 1]
    proposals = store.proposals(study.id)
    assert [(p.config, p.trial_number) for p in proposals] == [({"x": 0.3}, 0), ({"x": 0.7}, None)]
    (stored,) = store.exchanges(study.id)
    assert (stored.id, stored.accepted, stored.raw_answer) == (exchange_id, 1, '{"configs": []}')
    answer = store.earlier_answer("h" * 64)
    assert answer is not None and answer.id == exchange_id
    assert store.earlier_answer("other") is None
    with store.read() as tx:
        assert tx.study_contents(study.id).llm_answered == frozenset({0})


def test_transfer_finds_done_studies_and_ranks_their_trials(store: StudyStore) -> None:
    with store.write() as tx:
        done = tx.insert_study(spec("done"), NOW)
        running = tx.insert_study(spec("running"), NOW)
        for study in (done, running):
            for number, (rung, value) in enumerate([(0, 0.1), (1, 0.5), (1, 0.3), (-1, None)]):
                trial = tx.insert_trial(new_trial(study.id, number, x=number / 10))
                tx.update_trial(
                    trial.id,
                    NOW,
                    rung=rung,
                    last_value=value,
                    state=TrialState.COMPLETED.value,
                )
        tx.save_study(done.id, NOW, status=StudyStatus.FINISHED)
    with store.read() as tx:
        assert [study.name for study in tx.transfer_studies((), None)] == ["done"]
        assert [study.name for study in tx.transfer_studies((), done.id)] == []
        named = tx.transfer_studies(["running", "missing"], None)
        assert [study.name for study in named] == ["running"]
        # Highest rung first, then the best value: trials 2 and 1 at rung 1, then trial 0.
        best = tx.best_configs(named[0], 3)
    assert best == [{"x": 0.2}, {"x": 0.1}, {"x": 0.0}]
