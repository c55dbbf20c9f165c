"""Notifications: the inbox, each user's preferences and every e-mail or SMS sent.

Revision ID: 1198a11afdf0
Revises: c0a063f6edc6
Create Date: 2026-11-21 19:26:25.592467
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "1198a11afdf0"
down_revision: str | None = "c0a063f6edc6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=300), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("emailed_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("texted_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_notification_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_notification_emailed_at"), ["emailed_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_notification_texted_at"), ["texted_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_notification_user_id"), ["user_id"], unique=False)

    op.create_table(
        "notify_delivery",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("notification_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("next_attempt_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_notify_delivery_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_delivery")),
    )
    with op.batch_alter_table("notify_delivery", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notify_delivery_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_notify_delivery_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_notify_delivery_user_id"), ["user_id"], unique=False)

    op.create_table(
        "notify_preference",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email_on", sa.Boolean(), nullable=False),
        sa.Column("sms_on", sa.Boolean(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("quiet_start", sa.Time(), nullable=True),
        sa.Column("quiet_end", sa.Time(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_notify_preference_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_preference")),
        sa.UniqueConstraint("user_id", name=op.f("uq_notify_preference_user_id")),
    )


def downgrade() -> None:
    op.drop_table("notify_preference")
    with op.batch_alter_table("notify_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notify_delivery_user_id"))
        batch_op.drop_index(batch_op.f("ix_notify_delivery_status"))
        batch_op.drop_index(batch_op.f("ix_notify_delivery_created_at"))

    op.drop_table("notify_delivery")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_user_id"))
        batch_op.drop_index(batch_op.f("ix_notification_texted_at"))
        batch_op.drop_index(batch_op.f("ix_notification_emailed_at"))
        batch_op.drop_index(batch_op.f("ix_notification_created_at"))

    op.drop_table("notification")
