"""Alembic environment: migrations run on the connection hpo.storage.migrate hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from hpo.storage.tables import Base

# An arbitrary constant: the advisory lock that serialises concurrent upgrades
# when several coordinators start on one PostgreSQL store.
_UPGRADE_LOCK = 727_001


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    if connection.dialect.name == "postgresql":
        # A migration may wait for another coordinator's upgrade and rewrite large tables:
        # the service's lock and statement timeouts (hpo.storage.engine) do not apply to it.
        connection.execute(text("SET LOCAL lock_timeout = 0"))
        connection.execute(text("SET LOCAL statement_timeout = 0"))
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
