"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
Id = BigInteger().with_variant(Integer(), "sqlite")

# PostgreSQL's ``json`` (not ``jsonb``) on purpose: it keeps the text as written, so a value
# reads back with the type it was stored with. ``jsonb`` parses numbers into ``numeric`` and
# prints 1e20 back as 100000000000000000000, which reads as an integer: a float categorical
# choice or bound of 1e16 or more changed type, and an integer 2**63 or more overflowed the
# wire (issue 15). ``json`` still answers ``->`` and ``->>`` queries, and keeps key order.
Json = JSON()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """UTC timestamps: ``timestamptz`` on PostgreSQL, ISO text on SQLite, aware in Python."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        value = value.astimezone(timezone.utc)
        # SQLite keeps the text as given; store naive UTC so it sorts and compares as text.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
