"""The statistics' tally of test records (test_record_tally): counts by Beijing month,
region, institution, project, item and kind, rebuilt by the job testing.tally; empty until it
first runs (the statistics page counts the records until then).

Revision ID: 118b4ab610b5
Revises: 4d9cf029422d
Create Date: 2026-11-22 13:24:01.162714
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "118b4ab610b5"
down_revision: str | None = "4d9cf029422d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "test_record_tally",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("item_code", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("auto", sa.Integer(), nullable=False),
        sa.Column("late", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.Column("nonconforming", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_test_record_tally_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_test_record_tally_project_id_project")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_record_tally")),
    )
    with op.batch_alter_table("test_record_tally", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_test_record_tally_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_test_record_tally_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_test_record_tally_region_code"), ["region_code"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("test_record_tally", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_test_record_tally_region_code"))
        batch_op.drop_index(batch_op.f("ix_test_record_tally_project_id"))
        batch_op.drop_index(batch_op.f("ix_test_record_tally_institution_id"))

    op.drop_table("test_record_tally")
