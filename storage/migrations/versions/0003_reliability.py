"""Reliability and security: trial retries after an expired lease, bearer tokens.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen copies of the model types: a migration must not change when models do.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("trials") as trials:
        trials.add_column(sa.Column("retries", sa.Integer(), nullable=False, server_default="0"))
    # The lease sweeper asks for the earliest lease that is still held.
    op.create_index("ix_trials_lease_expires_at", "trials", ["lease_expires_at"])
    op.create_table(
        "tokens",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
        sa.UniqueConstraint("name", name="uq_tokens_name"),
        sa.UniqueConstraint("secret_hash", name="uq_tokens_secret_hash"),
        sa.UniqueConstraint("request_id", name="uq_tokens_request_id"),
    )


def downgrade() -> None:
    op.drop_table("tokens")
    op.drop_index("ix_trials_lease_expires_at", table_name="trials")
    with op.batch_alter_table("trials") as trials:
        trials.drop_column("retries")
