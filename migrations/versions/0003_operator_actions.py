"""operator actions: the audit trail of retries, replays and purges

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "operator_action",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("operator_action", schema=None) as batch_op:
        batch_op.create_index("ix_operator_action_target", ["target"], unique=False)


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("operator_action", schema=None) as batch_op:
        batch_op.drop_index("ix_operator_action_target")
    op.drop_table("operator_action")
