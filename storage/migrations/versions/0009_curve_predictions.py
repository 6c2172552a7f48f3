"""Curve decisions: ``reports.predicted`` and ``reports.predicted_sd``, the value at r_max a
trial's learning curve predicted when the report settled a rung of a study that decides by
curves (docs/curves.md). NULL elsewhere, so older rows need no rewrite.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as table:
        table.add_column(sa.Column("predicted", sa.Float(), nullable=True))
        table.add_column(sa.Column("predicted_sd", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reports") as table:
        table.drop_column("predicted_sd")
        table.drop_column("predicted")
