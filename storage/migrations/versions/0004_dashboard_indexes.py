"""Dashboard indexes: a study's latest trial change and latest report, and recent trials.

The dashboard's study list and the page's live refresh (polled every 2 s) ask for the latest
``trials.updated_at`` and ``reports.created_at`` of a study; with these indexes each is one
index lookup instead of a scan of the study's rows. ``ix_trials_study_id_updated_at`` also
serves the most recently changed trials (learning curves, the trial table sorted by time).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_trials_study_id_updated_at", "trials", ["study_id", "updated_at"])
    op.create_index("ix_reports_study_id_created_at", "reports", ["study_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_reports_study_id_created_at", table_name="reports")
    op.drop_index("ix_trials_study_id_updated_at", table_name="trials")
