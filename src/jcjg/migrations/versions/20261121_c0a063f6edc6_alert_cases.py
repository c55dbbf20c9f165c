"""Cases: the handling of alerts (confirm, dismiss, rectification with a deadline, evidence,
close, reopen, escalation) and each step's event.

Revision ID: c0a063f6edc6
Revises: 96e3e2899f21
Create Date: 2026-11-21 19:09:43.819335
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "c0a063f6edc6"
down_revision: str | None = "96e3e2899f21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_case",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("responsible", sa.String(length=200), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("escalated_to", sa.String(length=6), nullable=True),
        sa.Column("escalated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opened_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alert.id"], name=op.f("fk_alert_case_alert_id_alert")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_alert_case_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_alert_case_project_id_project")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_case")),
        sa.UniqueConstraint("alert_id", name=op.f("uq_alert_case_alert_id")),
    )
    with op.batch_alter_table("alert_case", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_case_deadline"), ["deadline"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_alert_case_escalated_to"), ["escalated_to"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_alert_case_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_alert_case_project_id"), ["project_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_alert_case_region_code"), ["region_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_alert_case_status"), ["status"], unique=False)

    op.create_table(
        "alert_case_event",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("responsible", sa.String(length=200), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ledger_index", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["user_account.id"],
            name=op.f("fk_alert_case_event_actor_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["alert_case.id"], name=op.f("fk_alert_case_event_case_id_alert_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_case_event")),
    )
    with op.batch_alter_table("alert_case_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_case_event_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alert_case_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_case_event_case_id"))

    op.drop_table("alert_case_event")
    with op.batch_alter_table("alert_case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_case_status"))
        batch_op.drop_index(batch_op.f("ix_alert_case_region_code"))
        batch_op.drop_index(batch_op.f("ix_alert_case_project_id"))
        batch_op.drop_index(batch_op.f("ix_alert_case_institution_id"))
        batch_op.drop_index(batch_op.f("ix_alert_case_escalated_to"))
        batch_op.drop_index(batch_op.f("ix_alert_case_deadline"))

    op.drop_table("alert_case")
