"""Hot-path statements on the driver's cursor (hpo.storage.prepared) behave as SQLAlchemy Core
does with the same statements: the same values and types written and read back, on SQLite and
PostgreSQL, and the driver's errors leave as the domain's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpo.errors import ConflictError
from hpo.space import INT64_MAX, INT64_MIN
from hpo.storage import create_engine, queries
from hpo.storage.migrate import upgrade
from hpo.storage.prepared import Prepared
from hpo.storage.store import domain_errors
from hpo.study_store import NewTrial

NOW = datetime(2026, 12, 4, 20, 30, 1, 123456, tzinfo=timezone.utc)
CONFIG_VALUES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(INT64_MIN, INT64_MAX),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20),
)


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(store_url)
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(queries.studies).values(
                id=1,
                name="s",
                spec={},
                direction="minimize",
                state="running",
                version=0,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    yield engine
    engine.dispose()


def trial_values(number: int, config: dict[str, object]) -> dict[str, object]:
    """Every column of a new trial, as the stores insert them."""
    return NewTrial(
        study_id=1,
        number=number,
        config=config,
        bracket=0,
        target_rung=1,
        target_resource=3.0,
        source="random",
        worker_id="w1",
        lease_expires_at=NOW + timedelta(seconds=30),
        created_at=NOW,
    ).columns()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(config=st.dictionaries(st.text(min_size=1, max_size=8), CONFIG_VALUES, max_size=4))
def test_a_trial_reads_back_as_core_reads_it(engine: sa.Engine, config: dict[str, object]) -> None:
    with engine.begin() as connection:
        number = connection.execute(
            sa.select(sa.func.count()).select_from(queries.trials)
        ).scalar_one()
        (trial_id,) = queries.INSERT_TRIAL.rows(connection, trial_values(number, config))[0]
        prepared = queries.TRIAL_BY_NUMBER.first(connection, {"study_id": 1, "number": number})
        core = connection.execute(
            sa.select(queries.trials).where(queries.trials.c.id == trial_id)
        ).one()
    assert prepared is not None
    assert prepared._asdict() == core._asdict()
    assert {k: type(v) for k, v in prepared._asdict().items()} == {
        k: type(v) for k, v in core._asdict().items()
    }
    assert prepared.config == config
    assert prepared.created_at == NOW and prepared.created_at.tzinfo is not None


def test_an_update_sets_only_the_columns_it_is_given(engine: sa.Engine) -> None:
    later = NOW + timedelta(minutes=1)
    with engine.begin() as connection:
        (trial_id,) = queries.INSERT_TRIAL.rows(connection, trial_values(0, {"x": 1.0}))[0]
        queries.UPDATE_TRIAL.run(connection, {"trial_pk": trial_id, "rung": 2, "updated_at": later})
        queries.UPDATE_TRIAL.run(
            connection, {"trial_pk": trial_id, "state": "paused", "updated_at": later}
        )
        row = queries.TRIAL_BY_NUMBER.first(connection, {"study_id": 1, "number": 0})
    assert row is not None
    assert (row.rung, row.state, row.updated_at, row.worker_id) == (2, "paused", later, "w1")


def test_literal_values_are_bound_and_absent_rows_are_empty(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        assert queries.REQUEST_ID_USES.rows(connection, {"request_id": "r1"}) == []
        queries.INSERT_DECISION.run(
            connection,
            {
                "study_id": 1,
                "trial_id": None,
                "kind": "finish",
                "rung": None,
                "resource": None,
                "worker_id": None,
                "request_id": "r1",
                "reason": "",
                "created_at": NOW,
            },
        )
        uses = queries.REQUEST_ID_USES.rows(connection, {"request_id": "r1"})
        assert [row.use for row in uses] == ["decision"]
        assert queries.LOCK_STUDY.first(connection, {"study_id": 2}) is None


def test_a_unique_violation_leaves_as_a_conflict(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        queries.INSERT_TRIAL.run(connection, trial_values(0, {}))
    with pytest.raises(ConflictError), domain_errors(), engine.begin() as connection:
        queries.INSERT_TRIAL.run(connection, trial_values(0, {}))
    with engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(queries.trials))
        assert count.scalar_one() == 1


def test_an_insert_missing_a_column_is_refused_before_it_runs(engine: sa.Engine) -> None:
    values = trial_values(0, {})
    del values["created_at"]  # the column has a Python default, which this path does not apply
    with engine.begin() as connection, pytest.raises(ValueError, match="created_at"):
        queries.INSERT_TRIAL.run(connection, values)


def test_an_in_list_parameter_is_refused(engine: sa.Engine) -> None:
    statement = Prepared(
        sa.select(queries.trials.c.id).where(queries.trials.c.state.in_(["running", "paused"]))
    )
    with engine.begin() as connection, pytest.raises(ValueError, match="IN list"):
        statement.rows(connection, {})
