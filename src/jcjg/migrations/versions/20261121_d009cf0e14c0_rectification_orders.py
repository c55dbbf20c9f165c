"""Rectification orders (002 articles 17-18) and the steps of each.

Revision ID: d009cf0e14c0
Revises: 539c11ebbc33
Create Date: 2026-11-21 20:56:17.256468
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "d009cf0e14c0"
down_revision: str | None = "539c11ebbc33"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rectification_order",
        sa.Column("number", sa.String(length=24), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("grounds", sa.JSON(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("requirement", sa.Text(), nullable=False),
        sa.Column("alert_ids", sa.JSON(), nullable=False),
        sa.Column("nonconformity_ids", sa.JSON(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("issued_by", sa.Integer(), nullable=True),
        sa.Column("issued_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("answer_evidence", sa.JSON(), nullable=False),
        sa.Column("answered_by", sa.Integer(), nullable=True),
        sa.Column("answered_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("published_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ledger_index", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["answered_by"],
            ["user_account.id"],
            name=op.f("fk_rectification_order_answered_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_rectification_order_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["issued_by"],
            ["user_account.id"],
            name=op.f("fk_rectification_order_issued_by_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rectification_order")),
        sa.UniqueConstraint("number", name=op.f("uq_rectification_order_number")),
    )
    with op.batch_alter_table("rectification_order", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rectification_order_deadline"), ["deadline"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rectification_order_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rectification_order_is_public"), ["is_public"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rectification_order_issued_at"), ["issued_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rectification_order_region_code"), ["region_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_rectification_order_status"), ["status"], unique=False)

    op.create_table(
        "rectification_event",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ledger_index", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["user_account.id"],
            name=op.f("fk_rectification_event_actor_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["rectification_order.id"],
            name=op.f("fk_rectification_event_order_id_rectification_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rectification_event")),
    )
    with op.batch_alter_table("rectification_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rectification_event_order_id"), ["order_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("rectification_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rectification_event_order_id"))

    op.drop_table("rectification_event")
    with op.batch_alter_table("rectification_order", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rectification_order_status"))
        batch_op.drop_index(batch_op.f("ix_rectification_order_region_code"))
        batch_op.drop_index(batch_op.f("ix_rectification_order_issued_at"))
        batch_op.drop_index(batch_op.f("ix_rectification_order_is_public"))
        batch_op.drop_index(batch_op.f("ix_rectification_order_institution_id"))
        batch_op.drop_index(batch_op.f("ix_rectification_order_deadline"))

    op.drop_table("rectification_order")
