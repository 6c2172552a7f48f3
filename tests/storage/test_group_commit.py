"""SQLite's group commit (hpo.storage.group_commit) under the real service: calls that wait
while a commit is under way share the next one, each call is answered only once its writes
are committed, and a commit that fails fails every call of its batch and nothing else."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from sqlalchemy import event, text

from hpo.errors import StoreUnavailableError
from hpo.service import Assignment, StudyService
from hpo.space import Float, Space
from hpo.spec import Resource, StudySpec
from hpo.storage.group_commit import Member, committing_batch
from hpo.storage.migrate import upgrade
from hpo.storage.sql_store import SqlStudyStore

CALLERS = 6


def spec(name: str) -> StudySpec:
    return StudySpec(
        name=name, space=Space({"x": Float(0, 1)}), resource=Resource(1, 9, 3), algorithm="asha"
    )


@pytest.fixture
def service(sqlite_url: str) -> Iterator[StudyService]:
    store = SqlStudyStore(sqlite_url)
    upgrade(store.engine)
    service = StudyService(store)
    for index in range(CALLERS + 1):
        service.create_study(spec(f"s{index}"))
    yield service
    service.close()
    store.close()


class GatedCommits:
    """Holds the first batch's commit until released, counting the batches' commits."""

    def __init__(self) -> None:
        self.count = 0
        self.first_started = threading.Event()
        self.release = threading.Event()

    def __call__(self, connection: object) -> None:
        if not committing_batch():
            return
        self.count += 1
        if self.count == 1:
            self.first_started.set()
            assert self.release.wait(30), "the test never released the first commit"


def wait_for_waiting_callers(service: StudyService, count: int) -> None:
    group = service.store._group
    assert group is not None
    with group._changed:
        assert group._changed.wait_for(lambda: group._waiting == count, timeout=30)


def queue_behind_a_held_commit(
    service: StudyService, pool: ThreadPoolExecutor, gate: GatedCommits
) -> tuple[Future[object], list[Future[object]]]:
    """One suggest whose commit the gate holds, then CALLERS suggests on other studies (so
    all of them queue for the connection) waiting behind it."""
    first = pool.submit(service.suggest, "s0", "w0", "r0")
    assert gate.first_started.wait(30)
    others = [
        pool.submit(service.suggest, f"s{index}", f"w{index}", f"r{index}")
        for index in range(1, CALLERS + 1)
    ]
    wait_for_waiting_callers(service, CALLERS)
    return first, others


def test_calls_waiting_for_a_commit_share_the_next_one(service: StudyService) -> None:
    gate = GatedCommits()
    event.listen(service.store.engine, "commit", gate)
    try:
        with ThreadPoolExecutor(CALLERS + 1) as pool:
            first, others = queue_behind_a_held_commit(service, pool, gate)
            assert not first.done()  # not answered before its commit
            gate.release.set()
            answers = [first.result(30)] + [future.result(30) for future in others]
    finally:
        event.remove(service.store.engine, "commit", gate)
    assert all(isinstance(answer, Assignment) for answer in answers)
    assert gate.count == 2  # one commit for the first call, one for the six that waited
    with service.store.sql.read() as session:
        stored = session.execute(text("SELECT count(*) FROM decisions WHERE kind = 'new'"))
        assert stored.scalar_one() == CALLERS + 1


def test_a_failed_commit_fails_every_call_of_its_batch_and_nothing_after(
    service: StudyService,
) -> None:
    gate = GatedCommits()

    def refuse_the_second_batch(connection: object) -> None:
        if committing_batch() and gate.count == 2:  # runs after the gate, which counted it
            raise OSError("disk I/O error")

    event.listen(service.store.engine, "commit", gate)
    event.listen(service.store.engine, "commit", refuse_the_second_batch)
    try:
        with ThreadPoolExecutor(CALLERS + 1) as pool:
            first, others = queue_behind_a_held_commit(service, pool, gate)
            gate.release.set()
            assert isinstance(first.result(30), Assignment)
            for future in others:  # all six shared the failed commit
                with pytest.raises((StoreUnavailableError, OSError)):
                    future.result(30)
    finally:
        event.remove(service.store.engine, "commit", gate)
        event.remove(service.store.engine, "commit", refuse_the_second_batch)
    # Nothing of the failed batch is stored or cached: each study hands out trial 0 again.
    for index in range(1, CALLERS + 1):
        again = service.suggest(f"s{index}", f"w{index}", f"again-{index}")
        assert isinstance(again, Assignment) and again.trial.number == 0


class CommitThreads:
    """Records the thread that commits each batch."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def __call__(self, connection: object) -> None:
        if committing_batch():
            self.threads.append(threading.current_thread())


def test_a_lone_call_commits_its_batch_in_its_own_thread(service: StudyService) -> None:
    """No hand-off to the committer thread when no other call is around."""
    commits = CommitThreads()
    event.listen(service.store.engine, "commit", commits)
    try:
        for index in range(3):
            assert isinstance(service.suggest("s0", "w0", f"lone-{index}"), Assignment)
    finally:
        event.remove(service.store.engine, "commit", commits)
    assert commits.threads == [threading.current_thread()] * 3


def test_a_batch_whose_expected_caller_never_writes_is_committed_by_the_committer(
    service: StudyService,
) -> None:
    """A call that said it was coming (it waits for its study's turn) may give up without
    writing; the batch's members all wait by then, so the committer thread commits it."""
    group = service.store._group
    assert group is not None
    commits = CommitThreads()
    event.listen(service.store.engine, "commit", commits)
    try:
        with ThreadPoolExecutor(1) as pool:
            with group.coming():
                answer = pool.submit(service.suggest, "s0", "w0", "r0")
                with group._changed:
                    assert group._changed.wait_for(
                        lambda: (
                            group._batch is not None
                            and len(group._batch.members) == 1
                            and group._batch.members[0].waiting
                        ),
                        timeout=30,
                    )
                assert not answer.done()  # its batch waits for the call that is coming
            assert isinstance(answer.result(30), Assignment)
    finally:
        event.remove(service.store.engine, "commit", commits)
    assert [thread.name for thread in commits.threads] == ["hpo-group-commit"]


def test_a_failed_call_rolls_back_only_its_own_writes(service: StudyService) -> None:
    """The batch's first call runs without a savepoint: its failure rolls the batch back,
    which holds nothing else. A later call's failure rolls back its savepoint only."""
    store = service.store
    group = store._group
    assert group is not None
    with store.sql.write() as session:
        session.execute(text("CREATE TABLE probe (x INTEGER)"))

    def insert(value: int, fail: bool) -> Member:
        with group.transaction() as (session, member):
            session.execute(text("INSERT INTO probe VALUES (:x)"), {"x": value})
            if fail:
                raise RuntimeError("the call's block failed")
        return member

    with pytest.raises(RuntimeError):
        insert(1, fail=True)  # a batch's first call
    first = insert(2, fail=False)  # the first call of a new batch
    with pytest.raises(RuntimeError):
        insert(3, fail=True)  # the second call of that batch, in a savepoint
    first.wait()
    with store.sql.read() as session:
        assert session.execute(text("SELECT x FROM probe")).scalars().all() == [2]
