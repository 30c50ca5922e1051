"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "contact_link",
        sa.Column("contact_sfid", sa.String(length=18), nullable=False),
        sa.Column("account_sfid", sa.String(length=18), nullable=False),
        sa.Column("source", sa.String(length=18), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("stamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("contact_sfid", "account_sfid", "source"),
    )
    with op.batch_alter_table("contact_link", schema=None) as batch_op:
        batch_op.create_index("ix_contact_link_account", ["account_sfid"], unique=False)

    op.create_table(
        "dead_letter",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source_queue", sa.String(length=120), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("replayed_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "inflight_message",
        sa.Column("message_key", sa.String(length=160), nullable=False),
        sa.Column("crashes", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("message_key"),
    )
    op.create_table(
        "relation_record",
        sa.Column("sfid", sa.String(length=18), nullable=False),
        sa.Column("account_sfid", sa.String(length=18), nullable=True),
        sa.Column("contact_sfid", sa.String(length=18), nullable=True),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("stamps", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("sfid"),
    )
    op.create_table(
        "stream_cursor",
        sa.Column("channel", sa.String(length=120), nullable=False),
        sa.Column("replay_id", sa.BigInteger(), nullable=False),
        sa.Column("event_time_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("channel"),
    )
    op.create_table(
        "sync_record",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("object", sa.String(length=40), nullable=False),
        sa.Column("sfid", sa.String(length=18), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("stamps", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("pushed_version", sa.Integer(), nullable=False),
        sa.Column("pushed_values", sa.JSON(), nullable=True),
        sa.Column("ls_id", sa.BigInteger(), nullable=True),
        sa.Column("pinned", sa.JSON(), nullable=True),
        sa.Column("rejection", sa.Text(), nullable=True),
        sa.Column("in_scope", sa.Boolean(), nullable=False),
        sa.Column("push_requested_at", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=True),
        sa.Column("lease_owner", sa.String(length=120), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("waiting_for", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("object", "ls_id", name="uq_sync_record_object_ls_id"),
        sa.UniqueConstraint("object", "sfid", name="uq_sync_record_object_sfid"),
    )
    with op.batch_alter_table("sync_record", schema=None) as batch_op:
        batch_op.create_index("ix_sync_record_due", ["next_attempt_at"], unique=False)
        batch_op.create_index("ix_sync_record_sfid", ["sfid"], unique=False)
        batch_op.create_index("ix_sync_record_state", ["state"], unique=False)

    op.create_table(
        "dependency_wait",
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("target_sfid", sa.String(length=18), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("since", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["sync_record.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("record_id", "target_sfid"),
    )
    with op.batch_alter_table("dependency_wait", schema=None) as batch_op:
        batch_op.create_index("ix_dependency_wait_target", ["target_sfid"], unique=False)

    op.create_table(
        "transition",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=False),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("trigger", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("worker", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["sync_record.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("transition", schema=None) as batch_op:
        batch_op.create_index("ix_transition_record", ["record_id", "id"], unique=False)


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("transition", schema=None) as batch_op:
        batch_op.drop_index("ix_transition_record")

    op.drop_table("transition")
    with op.batch_alter_table("dependency_wait", schema=None) as batch_op:
        batch_op.drop_index("ix_dependency_wait_target")

    op.drop_table("dependency_wait")
    with op.batch_alter_table("sync_record", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_record_state")
        batch_op.drop_index("ix_sync_record_sfid")
        batch_op.drop_index("ix_sync_record_due")

    op.drop_table("sync_record")
    op.drop_table("stream_cursor")
    op.drop_table("relation_record")
    op.drop_table("inflight_message")
    op.drop_table("dead_letter")
    with op.batch_alter_table("contact_link", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_link_account")

    op.drop_table("contact_link")
