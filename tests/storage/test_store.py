"""The trial store on SQLite and PostgreSQL (schema, settings), and the service's round trips
over it; those that need no SQL to check run on the memory store too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hpo.service import Assignment, Finished, StudyService
from hpo.space import Categorical, Float, Int, Space
from hpo.spec import Resource, StudySpec
from hpo.storage import create_engine, normalize_url
from hpo.storage.memory import MemoryStudyStore
from hpo.storage.migrate import current_revision, head_revision, upgrade
from hpo.storage.sql_store import SqlStudyStore
from hpo.storage.tables import Base
from hpo.study_store import state_of
from hpo.vocabulary import StudyStatus, TrialState

SPEC = StudySpec(
    name="store",
    space=Space({"x": Float(-2, 2), "n": Int(1, 8, log=True), "c": Categorical(["a", "b"])}),
    resource=Resource(1, 9, 3),
    # Store mechanics across Hyperband's brackets; the GP sampler has tests of its own.
    algorithm="hyperband",
    max_trials=12,
    seed=7,
)


@pytest.fixture
def service(store_url: str) -> Iterator[StudyService]:
    store = SqlStudyStore(store_url)
    upgrade(store.engine)
    yield StudyService(store)
    store.close()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_service(request: pytest.FixtureRequest) -> Iterator[StudyService]:
    """The service over the memory store, then over each SQL store."""
    if request.param == "memory":
        yield StudyService(MemoryStudyStore())
        return
    store = SqlStudyStore(request.getfixturevalue(f"{request.param}_url"))
    upgrade(store.engine)
    yield StudyService(store)
    store.close()


def rid() -> str:
    return uuid.uuid4().hex


def test_migrations_create_exactly_the_models(store_url: str) -> None:
    engine = create_engine(store_url)
    upgrade(engine)
    upgrade(engine)  # a second run is a no-op
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()


def test_sqlite_is_set_up_for_a_service(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    with engine.connect() as connection:
        pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("busy_timeout") == 30000
        assert pragma("synchronous") == 2  # FULL: a commit survives a power cut
        assert pragma("foreign_keys") == 1
    engine.dispose()


def test_plain_paths_and_postgres_urls_are_normalised(tmp_path) -> None:
    assert normalize_url(str(tmp_path / "a.db")) == f"sqlite:///{tmp_path / 'a.db'}"
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"


def run_study(service: StudyService) -> list[tuple[int, float, float]]:
    """One worker runs the whole study; returns every (trial number, resource, value) reported."""
    service.create_study(SPEC)
    reported = []
    while isinstance(job := service.suggest("store", "w1", rid()), Assignment):
        value = float(job.trial.config["x"]) ** 2 + 1 / job.resource
        outcome = service.report(job.trial.id, job.resource, value, rid(), "w1")
        assert not outcome.should_continue
        reported.append((job.trial.number, job.resource, value))
        service.complete(job.trial.id, "w1")
    assert isinstance(job, Finished)
    return reported


def test_a_study_round_trips_through_the_store(service: StudyService) -> None:
    reported = run_study(service)
    with service.store.sql.read() as session:
        rows = session.execute(
            sa.text(
                "SELECT t.number, r.resource, r.value FROM reports r "
                "JOIN trials t ON t.id = r.trial_id ORDER BY r.id"
            )
        ).all()
        decisions = dict(
            session.execute(sa.text("SELECT kind, count(*) FROM decisions GROUP BY kind")).all()
        )
    assert [tuple(row) for row in rows] == reported
    assert decisions["new"] == SPEC.max_trials
    assert decisions["pause"] + decisions.get("complete", 0) == len(reported)
    assert decisions["finish"] == 1
    info = service.get_study("store")
    assert info.status is StudyStatus.FINISHED
    assert sum(info.counts.values()) == SPEC.max_trials
    page = service.list_trials("store", include_reports=True)
    assert [t.number for t in page.trials] == list(range(SPEC.max_trials))
    assert sum(len(trial.reports) for trial in page.trials) == len(reported)
    assert all(SPEC.space.validate(trial.config) == trial.config for trial in page.trials)


def test_state_rebuilt_from_rows_equals_the_cached_state(any_service: StudyService) -> None:
    service = any_service
    run_study(service)
    study_id = service.get_study("store").id
    cached = service.decider.cached(study_id)
    assert cached is not None
    with service.store.read() as store:
        rebuilt = state_of(store.study_contents(study_id))
    assert rebuilt.rungs == cached.rungs
    assert rebuilt.trials == cached.trials


def test_a_restarted_service_decides_the_same_as_the_first(any_service: StudyService) -> None:
    """The coordinator is a function of the store: a fresh service continues the study."""
    service = any_service
    service.create_study(SPEC)
    for _ in range(5):
        job = service.suggest("store", "w1", rid())
        assert isinstance(job, Assignment)
        service.report(job.trial.id, job.resource, job.trial.config["x"], rid(), "w1")
        service.complete(job.trial.id, "w1")
    twin = StudyService(service.store)
    first = service.suggest("store", "w2", rid())
    assert isinstance(first, Assignment)
    # The twin sees the first service's decision through the store, not through memory.
    second = twin.suggest("store", "w3", rid())
    assert isinstance(second, Assignment)
    assert second.trial.number != first.trial.number
    assert twin.list_trials("store", [TrialState.RUNNING]).trials[0].number == first.trial.number


def test_best_is_the_best_value_at_the_highest_rung(service: StudyService) -> None:
    run_study(service)
    best = service.best("store")
    assert best is not None
    with service.store.sql.read() as session:
        top_rung, top_value = session.execute(
            sa.text(
                "SELECT max(rung), min(value) FROM reports "
                "WHERE rung = (SELECT max(rung) FROM reports)"
            )
        ).one()
    assert best.trial.rung == top_rung
    assert best.value == top_value
