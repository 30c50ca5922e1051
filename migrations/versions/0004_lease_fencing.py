"""lease fencing token, retry budget start, create attempted

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the lease version (fencing token), when the current run of retries began, and when a
    LogiSense create was first attempted."""
    with op.batch_alter_table("sync_record", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lease_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("retry_since", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("create_attempted_at", sa.Float(), nullable=True))
    # Entities from before this column: a create may have been sent, so they search first.
    op.execute("UPDATE sync_record SET create_attempted_at = 0 WHERE ls_id IS NULL")


def downgrade() -> None:
    """Remove them again."""
    with op.batch_alter_table("sync_record", schema=None) as batch_op:
        batch_op.drop_column("create_attempted_at")
        batch_op.drop_column("retry_since")
        batch_op.drop_column("lease_version")
