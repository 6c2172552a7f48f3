"""Several metrics per report: ``reports.metrics`` and ``trials.last_metrics`` (JSON objects of
metric name to value; NULL for one-value reports, so older rows need no rewrite).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# A frozen copy of the model type: plain JSON (``json`` on PostgreSQL, text on SQLite), as
# migration 0006 left every other JSON column.
JSON = sa.JSON()


def upgrade() -> None:
    with op.batch_alter_table("reports") as table:
        table.add_column(sa.Column("metrics", JSON, nullable=True))
    with op.batch_alter_table("trials") as table:
        table.add_column(sa.Column("last_metrics", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trials") as table:
        table.drop_column("last_metrics")
    with op.batch_alter_table("reports") as table:
        table.drop_column("metrics")
