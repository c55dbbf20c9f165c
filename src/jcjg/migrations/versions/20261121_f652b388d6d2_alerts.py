"""alerts: alerts raised by the rules engine (at most one open per rule and key), and the
per-region thresholds of the rules

Revision ID: f652b388d6d2
Revises: 103da833e51f
Create Date: 2026-11-21 09:07:09.196583
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "f652b388d6d2"
down_revision: str | None = "103da833e51f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rule_threshold",
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_code"], ["region.code"], name=op.f("fk_rule_threshold_region_code_region")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_threshold")),
        sa.UniqueConstraint(
            "rule_id", "region_code", "key", name=op.f("uq_rule_threshold_rule_id_region_code_key")
        ),
    )
    with op.batch_alter_table("rule_threshold", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rule_threshold_region_code"), ["region_code"], unique=False
        )

    op.create_table(
        "alert",
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("subject_repr", sa.String(length=200), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("closed_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.String(length=200), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"], ["institution.id"], name=op.f("fk_alert_institution_id_institution")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_alert_region_code"), ["region_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_rule_id"), ["rule_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_status"), ["status"], unique=False)
        # at most one open alert per (rule, key): the engine's idempotency, held by the database
        batch_op.create_index(
            "uq_alert_open_rule_id_key",
            ["rule_id", "key"],
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("uq_alert_open_rule_id_key")
        batch_op.drop_index(batch_op.f("ix_alert_status"))
        batch_op.drop_index(batch_op.f("ix_alert_rule_id"))
        batch_op.drop_index(batch_op.f("ix_alert_region_code"))
        batch_op.drop_index(batch_op.f("ix_alert_institution_id"))

    op.drop_table("alert")
    with op.batch_alter_table("rule_threshold", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rule_threshold_region_code"))

    op.drop_table("rule_threshold")
