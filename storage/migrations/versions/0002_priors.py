"""Priors: prior_proposals (queued or believed-good configurations) and llm_exchanges.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen copies of the model types: a migration must not change when models do.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "llm_exchanges",
        sa.Column("id", ID, nullable=False),
        sa.Column("study_id", ID, nullable=False),
        sa.Column("prior_index", sa.Integer(), nullable=False),
        sa.Column("base_url", sa.String(512), nullable=False),
        sa.Column("model", sa.String(512), nullable=False),
        sa.Column("prompt_hash", sa.String(64), nullable=False),
        sa.Column("messages", JSON, nullable=False),
        sa.Column("response_format", JSON, nullable=True),
        sa.Column("raw_answer", sa.Text(), nullable=True),
        sa.Column("accepted", JSON, nullable=False),
        sa.Column("rejected", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("replayed_from", ID, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name="fk_llm_exchanges_study_id_studies",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["replayed_from"],
            ["llm_exchanges.id"],
            name="fk_llm_exchanges_replayed_from_llm_exchanges",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_llm_exchanges"),
    )
    op.create_index("ix_llm_exchanges_prompt_hash", "llm_exchanges", ["prompt_hash"])
    op.create_table(
        "prior_proposals",
        sa.Column("id", ID, nullable=False),
        sa.Column("study_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("run_first", sa.Boolean(), nullable=False),
        sa.Column("prior_index", sa.Integer(), nullable=True),
        sa.Column("trial_id", ID, nullable=True),
        sa.Column("exchange_id", ID, nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name="fk_prior_proposals_study_id_studies",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["trials.id"],
            name="fk_prior_proposals_trial_id_trials",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["llm_exchanges.id"],
            name="fk_prior_proposals_exchange_id_llm_exchanges",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_prior_proposals"),
        sa.UniqueConstraint("study_id", "position", name="uq_prior_proposals_study_id_position"),
        sa.UniqueConstraint("request_id", name="uq_prior_proposals_request_id"),
    )


def downgrade() -> None:
    op.drop_table("prior_proposals")
    op.drop_index("ix_llm_exchanges_prompt_hash", table_name="llm_exchanges")
    op.drop_table("llm_exchanges")
