"""Engines for the trial store: SQLite (embedded default) and PostgreSQL.

SQLite is configured for a service: WAL journal (readers never block the
writer), a busy timeout instead of immediate "database is locked" errors,
``synchronous=FULL`` so a committed report survives a power cut, foreign keys
on, and pysqlite's own transaction handling replaced by explicit ``BEGIN``
statements. Write transactions start with ``BEGIN IMMEDIATE`` so two writers
queue on the lock at the start instead of deadlocking on an upgrade later.
PostgreSQL sessions get a lock timeout and a statement timeout, so no call
waits on the database without bound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

# Database failures that are not the caller's fault: the database is down, unreachable, locked,
# out of disk, read-only (PostgreSQL's "cannot execute ... in a read-only transaction" is an
# InternalError) or timed out. Callers are answered UNAVAILABLE (retry later) with a log line,
# never INTERNAL: a read-only database made 402 calls INTERNAL in 6 s, and clients do not
# retry those (issue 15). DataError, IntegrityError and ProgrammingError stay INTERNAL: they
# mean a value or a statement hpo should have refused or written differently.
STORE_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.InternalError)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# A statement that waits longer than this for a lock (a study's row locked from outside, by a
# stuck transaction) fails, and the call is answered UNAVAILABLE instead of holding its thread
# forever; a statement running longer than the second bound is cancelled the same way.
POSTGRES_LOCK_TIMEOUT_MS = 10_000
POSTGRES_STATEMENT_TIMEOUT_MS = 120_000
WRITE_OPTION = "hpo_write"


def normalize_url(db: str) -> str:
    """Accept a SQLAlchemy URL or a plain file path (taken as a SQLite file)."""
    if "://" in db:
        url = sa.engine.make_url(db)
        if url.drivername == "postgresql":
            # psycopg 3 is the driver hpo installs; SQLAlchemy 2.0 would pick psycopg2.
            url = url.set(drivername="postgresql+psycopg")
        return url.render_as_string(hide_password=False)
    return f"sqlite:///{Path(db).expanduser().resolve()}"


def create_engine(db: str, **kwargs: Any) -> Engine:
    url = normalize_url(db)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 16)
    kwargs.setdefault("max_overflow", 16)
    connect_args = kwargs.setdefault("connect_args", {})
    connect_args.setdefault(
        "options",
        f"-c lock_timeout={POSTGRES_LOCK_TIMEOUT_MS} "
        f"-c statement_timeout={POSTGRES_STATEMENT_TIMEOUT_MS}",
    )
    return sa.create_engine(url, **kwargs)


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    kwargs.setdefault("connect_args", {"check_same_thread": False})
    engine = sa.create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event below decide when transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
