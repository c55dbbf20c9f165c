"""Nonconformities reported by the lab through the exchange API, with or without a record;
entries belong to their project's region.

Revision ID: 539c11ebbc33
Revises: b25a8c5727ce
Create Date: 2026-11-21 20:54:41.612994
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "539c11ebbc33"
down_revision: str | None = "b25a8c5727ce"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("nonconformity", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="record")
        )
        batch_op.add_column(
            sa.Column("requirement", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("reported_number", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("conclusion", sa.String(length=500), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("judged_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("informed_client_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reported_note", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("reported_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.alter_column("test_record_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_unique_constraint(
            batch_op.f("uq_nonconformity_institution_id_reported_number"),
            ["institution_id", "reported_number"],
        )
    # an entry belongs to its project's region from now on (supervising_region): move the
    # entries made before, which took the lab's
    op.execute(
        "UPDATE nonconformity SET region_code = (SELECT project.region_code FROM project"
        " WHERE project.id = nonconformity.project_id) WHERE project_id IS NOT NULL"
    )


def downgrade() -> None:
    # entries reported without a record on the platform cannot stay without their record
    op.execute("DELETE FROM nonconformity WHERE test_record_id IS NULL")
    with op.batch_alter_table("nonconformity", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_nonconformity_institution_id_reported_number"), type_="unique"
        )
        batch_op.alter_column("test_record_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("reported_at")
        batch_op.drop_column("reported_note")
        batch_op.drop_column("informed_client_at")
        batch_op.drop_column("judged_at")
        batch_op.drop_column("conclusion")
        batch_op.drop_column("reported_number")
        batch_op.drop_column("requirement")
        batch_op.drop_column("source")
