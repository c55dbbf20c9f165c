"""Reports of the platform this one replaced (issue 41 item 6): their codes, imported by
``jcjg import legacy-reports``, answer on /v/<code> as imported.

Revision ID: d7e2b9c4a1f6
Revises: c3f1a8d2e7b4
Create Date: 2026-11-25 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "d7e2b9c4a1f6"
down_revision: str | None = "c3f1a8d2e7b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_legacy",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("report_number", sa.String(length=64), nullable=False),
        sa.Column("institution_name", sa.String(length=200), nullable=False),
        sa.Column("institution_code", sa.String(length=32), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("ledger_index", sa.BigInteger(), nullable=True),
        sa.Column("imported_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_report_legacy_institution_id_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_legacy")),
        sa.UniqueConstraint("code", name=op.f("uq_report_legacy_code")),
    )
    with op.batch_alter_table("report_legacy", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_report_legacy_institution_id"), ["institution_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("report_legacy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_legacy_institution_id"))

    op.drop_table("report_legacy")
