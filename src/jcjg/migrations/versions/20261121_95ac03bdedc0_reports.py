"""Reports with their supervision codes, the test records they cover, and code scans.

Revision ID: 95ac03bdedc0
Revises: fbb57a4f7554
Create Date: 2026-11-21 15:53:56.449340
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "95ac03bdedc0"
down_revision: str | None = "fbb57a4f7554"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report",
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("commission_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("supervision_code", sa.String(length=17), nullable=False),
        sa.Column("code_serial", sa.Integer(), nullable=False),
        sa.Column("code_year", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("conclusion", sa.Text(), nullable=False),
        sa.Column("judgement", sa.String(length=16), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("signatories", sa.JSON(), nullable=False),
        sa.Column("signatory_person_ids", sa.JSON(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("received_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.String(length=500), nullable=False),
        sa.Column("status_changed_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=True),
        sa.Column("pdf_received_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pdf_checks", sa.JSON(), nullable=False),
        sa.Column("ledger_index", sa.Integer(), nullable=True),
        sa.Column("leaf_hash", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=36), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["commission_id"], ["commission.id"], name=op.f("fk_report_commission_id_commission")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_report_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_report_project_id_project")
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"], ["report.id"], name=op.f("fk_report_replaces_id_report")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report")),
        sa.UniqueConstraint(
            "institution_id", "number", name=op.f("uq_report_institution_id_number")
        ),
        sa.UniqueConstraint("supervision_code", name=op.f("uq_report_supervision_code")),
    )
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_report_commission_id"), ["commission_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_report_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_report_issued_on"), ["issued_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_report_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_report_received_at"), ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_report_region_code"), ["region_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_report_status"), ["status"], unique=False)

    op.create_table(
        "code_scan",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("token_given", sa.Boolean(), nullable=False),
        sa.Column("client_hash", sa.String(length=16), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.Column("scanned_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"], ["report.id"], name=op.f("fk_code_scan_report_id_report")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_scan")),
    )
    with op.batch_alter_table("code_scan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_code_scan_code"), ["code"], unique=False)
        batch_op.create_index(batch_op.f("ix_code_scan_outcome"), ["outcome"], unique=False)
        batch_op.create_index(batch_op.f("ix_code_scan_report_id"), ["report_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_code_scan_scanned_at"), ["scanned_at"], unique=False)

    op.create_table(
        "report_test_record",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("test_record_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"], ["report.id"], name=op.f("fk_report_test_record_report_id_report")
        ),
        sa.ForeignKeyConstraint(
            ["test_record_id"],
            ["test_record.id"],
            name=op.f("fk_report_test_record_test_record_id_test_record"),
        ),
        sa.PrimaryKeyConstraint("report_id", "test_record_id", name=op.f("pk_report_test_record")),
    )
    with op.batch_alter_table("report_test_record", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_report_test_record_test_record_id"), ["test_record_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("report_test_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_test_record_test_record_id"))

    op.drop_table("report_test_record")
    with op.batch_alter_table("code_scan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_code_scan_scanned_at"))
        batch_op.drop_index(batch_op.f("ix_code_scan_report_id"))
        batch_op.drop_index(batch_op.f("ix_code_scan_outcome"))
        batch_op.drop_index(batch_op.f("ix_code_scan_code"))

    op.drop_table("code_scan")
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_status"))
        batch_op.drop_index(batch_op.f("ix_report_region_code"))
        batch_op.drop_index(batch_op.f("ix_report_received_at"))
        batch_op.drop_index(batch_op.f("ix_report_project_id"))
        batch_op.drop_index(batch_op.f("ix_report_issued_on"))
        batch_op.drop_index(batch_op.f("ix_report_institution_id"))
        batch_op.drop_index(batch_op.f("ix_report_commission_id"))

    op.drop_table("report")
