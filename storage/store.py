"""Sessions over the trial store: short read transactions and serialised write transactions.

Failures leave the store as the domain's errors, never the driver's: a database that is
down, locked or read-only raises :class:`hpo.errors.StoreUnavailableError`, a write that
collides with another writer's committed row :class:`hpo.errors.ConflictError`. So the
servicer, the token checks and the dashboard need not know SQLAlchemy (issue 16).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from hpo.errors import ConflictError, StoreUnavailableError
from hpo.storage.engine import STORE_UNAVAILABLE, WRITE_OPTION, create_engine


class Store:
    """One database: ``read()`` for queries, ``write()`` for transactions that change it
    (ORM sessions), and ``write_connection()`` for the study store's write transactions (a Core
    connection, :mod:`hpo.storage.sql_store`).

    All commit on a clean exit and roll back on an exception. Objects stay
    usable after the session closes (``expire_on_commit=False``) so the
    coordinator can turn them into responses.
    """

    def __init__(self, db: str | Engine) -> None:
        self.engine = db if isinstance(db, Engine) else create_engine(db)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        # Its transactions write: BEGIN IMMEDIATE on SQLite (hpo.storage.engine).
        self._write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        self._writer = sessionmaker(self._write_engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with domain_errors(), self._reader() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        with domain_errors(), self._writer() as session, session.begin():
            yield session

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """A Core connection in a write transaction, committed on a clean exit: the study
        store's transactions, whose hot statements need no ORM session (issue 16)."""
        with domain_errors(), self._write_engine.begin() as connection:
            yield connection

    def new_write_connection(self) -> Connection:
        """A connection whose transactions write, for a caller that manages the transaction
        itself (:mod:`hpo.storage.group_commit`)."""
        return self._write_engine.connect()

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def domain_errors() -> Iterator[None]:
    """The driver's errors of a transaction (its statements and its commit) as the domain's."""
    try:
        yield
    except STORE_UNAVAILABLE as error:
        raise StoreUnavailableError() from error
    except sa_exc.IntegrityError as error:
        if not _unique_violation(error):
            raise  # a value hpo should have refused: a bug, answered INTERNAL
        raise ConflictError(f"a concurrent write committed first: {error.orig}") from error


def _unique_violation(error: sa_exc.IntegrityError) -> bool:
    """Whether ``error`` is a duplicate of a unique key (PostgreSQL's SQLSTATE 23505,
    SQLite's "UNIQUE constraint failed"), as opposed to another constraint."""
    original = error.orig
    return getattr(original, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(
        original
    )
