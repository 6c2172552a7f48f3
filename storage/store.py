"""Sessions over the trial store: short read transactions and serialised write transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from hpo.storage.engine import WRITE_OPTION, create_engine


class Store:
    """One database: ``read()`` for queries, ``write()`` for transactions that change it.

    Both commit on a clean exit and roll back on an exception. Objects stay
    usable after the session closes (``expire_on_commit=False``) so the
    coordinator can turn them into responses.
    """

    def __init__(self, db: str | Engine) -> None:
        self.engine = db if isinstance(db, Engine) else create_engine(db)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        with self._writer() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
