"""PostgreSQL: store JSON as ``json`` (the text as written) instead of ``jsonb``.

``jsonb`` keeps numbers as ``numeric`` and prints them back without the writer's form: the
float 1e20 came back as the integer 100000000000000000000, so a categorical choice of 1e20
broke every read of its study's spec, and a float of 2**63 or more read back as an integer
too large for the wire. ``json`` keeps the text, so every value reads back with its type.
Values already normalised by ``jsonb`` cannot be told apart any more; they are converted as
they are. SQLite stores JSON as text already: nothing changes there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = (
    ("studies", "spec"),
    ("trials", "config"),
    ("prior_proposals", "config"),
    ("llm_exchanges", "messages"),
    ("llm_exchanges", "response_format"),
    ("llm_exchanges", "accepted"),
    ("llm_exchanges", "rejected"),
)


def _retype(kind: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {kind} USING {column}::text::{kind}"
        )


def upgrade() -> None:
    _retype("json")


def downgrade() -> None:
    _retype("jsonb")
