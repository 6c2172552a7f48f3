"""The service's cached study state and the commit (issue 16): a call is answered only after
its writes are committed, and a commit that fails leaves no trace in the cache. (The cache
takes a decision's effects as its writes join the store's transaction, before the commit,
because on SQLite the study's next call may share that commit: hpo.decider.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import event

from hpo.service import Assignment, StudyService
from hpo.space import Float, Space
from hpo.spec import Resource, StudySpec
from hpo.storage.migrate import upgrade
from hpo.storage.sql_store import SqlStudyStore

SPEC = StudySpec(
    name="cached", space=Space({"x": Float(0, 1)}), resource=Resource(1, 9, 3), algorithm="asha"
)


@pytest.fixture
def service(store_url: str) -> Iterator[StudyService]:
    store = SqlStudyStore(store_url)
    upgrade(store.engine)
    service = StudyService(store)
    service.create_study(SPEC)
    yield service
    service.close()
    store.close()


def cached_trials(service: StudyService) -> int:
    # Read inside commit listeners: no store call here, or it would commit in turn.
    (_, state, _) = next(iter(service.decider._states.values()))
    return state.n_trials


def test_an_answer_leaves_only_after_its_commit(service: StudyService) -> None:
    assert isinstance(service.suggest("cached", "w1", "first"), Assignment)
    answered = threading.Event()
    answered_at_commit: list[bool] = []
    listener = lambda connection: answered_at_commit.append(answered.is_set())  # noqa: E731
    event.listen(service.store.engine, "commit", listener)
    try:
        assignment = service.suggest("cached", "w2", "second")
        answered.set()
    finally:
        event.remove(service.store.engine, "commit", listener)
    assert isinstance(assignment, Assignment)
    assert answered_at_commit == [False]  # committed once, before the answer
    assert cached_trials(service) == 2


def test_a_failed_commit_leaves_no_trace_in_the_cache(service: StudyService) -> None:
    assert isinstance(service.suggest("cached", "w1", "first"), Assignment)

    def refuse(connection: object) -> None:
        raise RuntimeError("the store refused the commit")

    event.listen(service.store.engine, "commit", refuse)
    try:
        with pytest.raises(RuntimeError, match="refused the commit"):
            service.suggest("cached", "w2", "second")
    finally:
        event.remove(service.store.engine, "commit", refuse)
    # Read again from the store: one trial, and the next one gets number 1.
    assignment = service.suggest("cached", "w2", "third")
    assert isinstance(assignment, Assignment) and assignment.trial.number == 1
    assert cached_trials(service) == 2
