"""backfill cursors and the ingest lease

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "backfill_cursor",
        sa.Column("object", sa.String(length=40), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("last_id", sa.String(length=18), nullable=True),
        sa.Column("job_id", sa.String(length=40), nullable=True),
        sa.Column("locator", sa.String(length=200), nullable=True),
        sa.Column("published", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("object"),
    )
    op.create_table(
        "ingest_lease",
        sa.Column("stream", sa.String(length=120), nullable=False),
        sa.Column("holder", sa.String(length=120), nullable=True),
        sa.Column("until", sa.Float(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("stream"),
    )


def downgrade() -> None:
    """Revert this migration."""
    op.drop_table("ingest_lease")
    op.drop_table("backfill_cursor")
