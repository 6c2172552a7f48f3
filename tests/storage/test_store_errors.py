"""The store's failures leave it as the domain's errors, never SQLAlchemy's (issue 16): the
servicer, the token checks and the dashboard answer them without knowing the driver."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
import sqlalchemy as sa

from hpo.errors import ConflictError, StoreUnavailableError
from hpo.storage import Store, tables
from hpo.storage.migrate import upgrade
from hpo.storage.types import utcnow


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(store_url)
    upgrade(store.engine)
    yield store
    store.dispose()


def study(name: str) -> tables.Study:
    now = utcnow()
    return tables.Study(name=name, spec={}, direction="minimize", created_at=now, updated_at=now)


def test_a_duplicate_of_a_unique_key_is_a_conflict(store: Store) -> None:
    with store.write() as session:
        session.add(study("taken"))
    with pytest.raises(ConflictError) as raised, store.write() as session:
        session.add(study("taken"))
    assert raised.value.code is grpc.StatusCode.ABORTED
    with store.read() as session:  # nothing of the second write was kept
        assert session.scalar(sa.select(sa.func.count()).select_from(tables.Study)) == 1


def test_another_constraint_is_not_a_conflict(store: Store) -> None:
    """A NOT NULL violation is a value hpo should have refused: a bug, not a race."""
    with pytest.raises(sa.exc.IntegrityError), store.write() as session:
        session.execute(sa.insert(tables.Study).values(name=None))


def test_a_store_that_cannot_be_reached_is_unavailable() -> None:
    store = Store("postgresql+psycopg://postgres@127.0.0.1:9/nowhere?connect_timeout=2")
    try:
        with pytest.raises(StoreUnavailableError) as raised, store.read() as session:
            session.execute(sa.text("select 1"))
        assert raised.value.code is grpc.StatusCode.UNAVAILABLE
        assert isinstance(raised.value.__cause__, sa.exc.OperationalError)
    finally:
        store.dispose()
