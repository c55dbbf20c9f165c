"""The nonconformity register: each nonconforming result, its deadline and handling.

Revision ID: b25a8c5727ce
Revises: 1198a11afdf0
Create Date: 2026-11-21 19:35:37.445868
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "b25a8c5727ce"
down_revision: str | None = "1198a11afdf0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nonconformity",
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("test_record_id", sa.Integer(), nullable=False),
        sa.Column("found_by", sa.String(length=16), nullable=False),
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("item_code", sa.String(length=12), nullable=False),
        sa.Column("structure_part", sa.String(length=100), nullable=False),
        sa.Column("grade", sa.String(length=32), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("found_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("handling", sa.String(length=16), nullable=False),
        sa.Column("handling_note", sa.Text(), nullable=False),
        sa.Column("handled_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("notified", sa.Integer(), nullable=False),
        sa.Column("ledger_index", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_nonconformity_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_nonconformity_project_id_project")
        ),
        sa.ForeignKeyConstraint(
            ["test_record_id"],
            ["test_record.id"],
            name=op.f("fk_nonconformity_test_record_id_test_record"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nonconformity")),
        sa.UniqueConstraint("test_record_id", name=op.f("uq_nonconformity_test_record_id")),
    )
    with op.batch_alter_table("nonconformity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nonconformity_deadline"), ["deadline"], unique=False)
        batch_op.create_index(batch_op.f("ix_nonconformity_found_at"), ["found_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_nonconformity_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_nonconformity_item_code"), ["item_code"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_nonconformity_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_nonconformity_region_code"), ["region_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_nonconformity_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("nonconformity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nonconformity_status"))
        batch_op.drop_index(batch_op.f("ix_nonconformity_region_code"))
        batch_op.drop_index(batch_op.f("ix_nonconformity_project_id"))
        batch_op.drop_index(batch_op.f("ix_nonconformity_item_code"))
        batch_op.drop_index(batch_op.f("ix_nonconformity_institution_id"))
        batch_op.drop_index(batch_op.f("ix_nonconformity_found_at"))
        batch_op.drop_index(batch_op.f("ix_nonconformity_deadline"))

    op.drop_table("nonconformity")
