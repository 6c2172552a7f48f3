"""A study's LLM exchanges in order: an index on ``llm_exchanges (study_id, id)``.

The dashboard's priors panel and the coordinator's ``GetPriors`` read a study's exchanges by
``study_id``, ordered by ``id``; the table had only the ``prompt_hash`` index (the replay
key), so each of them scanned every study's exchanges. With this index it is one index
search, in order, without a sort.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_llm_exchanges_study_id_id", "llm_exchanges", ["study_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_llm_exchanges_study_id_id", table_name="llm_exchanges")
