"""Signing certificates registered for an institution's people (reports' PDF signatures).

Revision ID: 0f56e4d6b737
Revises: 95ac03bdedc0
Create Date: 2026-11-21 16:05:31.616574
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "0f56e4d6b737"
down_revision: str | None = "95ac03bdedc0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signing_certificate",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("serial_number", sa.String(length=64), nullable=False),
        sa.Column("not_before", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("not_after", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_signing_certificate_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_signing_certificate_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_certificate")),
        sa.UniqueConstraint(
            "institution_id", "sha256", name=op.f("uq_signing_certificate_institution_id_sha256")
        ),
    )
    with op.batch_alter_table("signing_certificate", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_signing_certificate_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_signing_certificate_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_signing_certificate_region_code"), ["region_code"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("signing_certificate", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signing_certificate_region_code"))
        batch_op.drop_index(batch_op.f("ix_signing_certificate_person_id"))
        batch_op.drop_index(batch_op.f("ix_signing_certificate_institution_id"))

    op.drop_table("signing_certificate")
