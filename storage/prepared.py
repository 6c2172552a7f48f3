"""Hot-path statements run on the driver's cursor, with SQL compiled once per dialect.

Why: a Suggest, Report or Complete runs six to eight short statements. Through
SQLAlchemy Core, each paid about 60 µs on SQLite and more on PostgreSQL in
execution-context set-up, parameter processing, events and result wrapping,
against about 15 µs in the database (docs/benchmarks.md, issue 16). Here a
statement is compiled by SQLAlchemy once per dialect (and per set of columns
an UPDATE sets), and each call only converts its parameters with the columns'
own type processors, runs the SQL on the transaction's DBAPI connection and
converts the returned columns back. So the types behave exactly as in Core
(UTC timestamps, JSON text), the statement runs inside the session's
transaction and savepoints, and a driver error leaves as SQLAlchemy's own
exception class, which :func:`hpo.storage.store.domain_errors` turns into the
domain's.

What it gives up: statement events (``before_cursor_execute``) do not fire for
these statements, and Python-side column defaults are not applied: every
column an INSERT names must be given (a missing one is an error at compile
time, not a NULL).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import TypeEngine

Processor = Callable[[Any], Any] | None


@dataclass
class _Compiled:
    """One statement compiled for one dialect and one set of parameter names."""

    sql: str
    # (bind name, the parameter's key or None for a literal, literal value, bind processor)
    binds: tuple[tuple[str, str | None, Any, Processor], ...]
    positional: bool
    row: type | None  # a named tuple of the returned columns, None when nothing is returned
    types: tuple[TypeEngine[Any], ...]  # the returned columns' types, in the dialect
    # The returned columns' result processors, known from the first run's cursor description
    # (PostgreSQL's numeric processors depend on the type the driver reports).
    results: tuple[Processor, ...] | None = None

    def converters(self, dialect: Dialect, description: Any) -> tuple[Processor, ...]:
        if self.results is None:
            self.results = tuple(
                kind.result_processor(dialect, column[1])
                for kind, column in zip(self.types, description, strict=True)
            )
        return self.results

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        converted = []
        for _, key, literal, process in self.binds:
            value = literal if key is None else values[key]
            converted.append(value if process is None else process(value))
        if self.positional:
            return tuple(converted)
        return {name: value for (name, *_), value in zip(self.binds, converted, strict=True)}


def _compile(statement: Any, dialect: Dialect, keys: tuple[str, ...]) -> _Compiled:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    names = compiled.positiontup if dialect.positional else list(dict.fromkeys(compiled.binds))
    given = set(keys)
    binds = []
    for name in names:
        bind = compiled.binds[name]
        if bind.expanding:
            raise ValueError(f"prepared statements take no IN list parameter: {compiled.string}")
        if name in given:
            key, literal = name, None
        elif bind.value is not None and not bind.required:
            key, literal = None, bind.value
        else:
            raise ValueError(f"prepared statement needs a value for {name!r}: {compiled.string}")
        binds.append((name, key, literal, bind.type.dialect_impl(dialect).bind_processor(dialect)))
    if not dialect.positional:
        # Named styles list each bind once; anonymous copies of a literal are not in the SQL.
        binds = [entry for entry in binds if f"%({entry[0]})s" in compiled.string]
    columns = list(statement.exported_columns)
    row = namedtuple("Row", [column.key for column in columns]) if columns else None  # type: ignore[misc]
    types = tuple(column.type.dialect_impl(dialect) for column in columns)
    return _Compiled(compiled.string, tuple(binds), dialect.positional, row, types)


@contextmanager
def driver_cursor(connection: Connection, sql: str, parameters: Any) -> Iterator[Any]:
    """A DBAPI cursor of ``connection``'s transaction, closed after the block. The driver's
    errors leave as SQLAlchemy's own exception classes, as Core raises them, and a disconnect
    invalidates the connection, as Core does."""
    dialect = connection.dialect
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None, "the transaction's connection is open"
    cursor = dbapi_connection.cursor()
    try:
        yield cursor
    except dialect.loaded_dbapi.Error as error:
        if dialect.is_disconnect(error, dbapi_connection, cursor):
            connection.invalidate(error)
        raise exc.DBAPIError.instance(
            sql, parameters, error, dialect.loaded_dbapi.Error, dialect=dialect
        ) from error
    finally:
        cursor.close()


def execute_sql(connection: Connection, sql: str) -> None:
    """Run ``sql``, a statement with no parameter and no result (a savepoint's), on the
    driver's cursor (:func:`driver_cursor`)."""
    with driver_cursor(connection, sql, ()) as cursor:
        cursor.execute(sql)


class Prepared:
    """A statement built once (:mod:`hpo.storage.queries`), run on the driver's cursor."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def _for(self, dialect: Dialect, keys: tuple[str, ...]) -> _Compiled:
        compiled = self._compiled.get((dialect.name, keys))
        if compiled is None:
            compiled = _compile(self.statement, dialect, keys)
            self._compiled[(dialect.name, keys)] = compiled
        return compiled

    def rows(self, connection: Connection, values: Mapping[str, Any]) -> list[Any]:
        """Run the statement in ``connection``'s transaction; its returned rows (named tuples
        with the columns' Python values), or an empty list."""
        dialect = connection.dialect
        compiled = self._for(dialect, tuple(values))
        parameters = compiled.parameters(values)
        with driver_cursor(connection, compiled.sql, parameters) as cursor:
            cursor.execute(compiled.sql, parameters)
            if compiled.row is None:
                return []
            fetched = cursor.fetchall()
            results = compiled.converters(dialect, cursor.description)
        make = compiled.row
        return [
            make(
                *(
                    raw if process is None else process(raw)
                    for raw, process in zip(row, results, strict=True)
                )
            )
            for row in fetched
        ]

    def run(self, connection: Connection, values: Mapping[str, Any]) -> None:
        """Run a statement that returns nothing."""
        self.rows(connection, values)

    def first(self, connection: Connection, values: Mapping[str, Any]) -> Any | None:
        """The first returned row, or None."""
        rows = self.rows(connection, values)
        return rows[0] if rows else None
