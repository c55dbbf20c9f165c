"""Inspection contracts with their PDF, linked to projects.

Revision ID: 8a65e85df908
Revises: 0f56e4d6b737
Create Date: 2026-11-21 16:16:03.370495
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "8a65e85df908"
down_revision: str | None = "0f56e4d6b737"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contract",
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("client_unit", sa.String(length=200), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("amount_yuan", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ledger_index", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.String(length=36), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_contract_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_contract_project_id_project")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract")),
        sa.UniqueConstraint(
            "institution_id", "number", name=op.f("uq_contract_institution_id_number")
        ),
    )
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contract_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_contract_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contract_received_at"), ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_contract_region_code"), ["region_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_contract_signed_on"), ["signed_on"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contract_signed_on"))
        batch_op.drop_index(batch_op.f("ix_contract_region_code"))
        batch_op.drop_index(batch_op.f("ix_contract_received_at"))
        batch_op.drop_index(batch_op.f("ix_contract_project_id"))
        batch_op.drop_index(batch_op.f("ix_contract_institution_id"))

    op.drop_table("contract")
