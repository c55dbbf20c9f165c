"""A platform's online application to become a child (issue 41, 000 6.0.7): network_application.

Revision ID: e4b8c2d9f1a3
Revises: d7e2b9c4a1f6
Create Date: 2026-11-26 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "e4b8c2d9f1a3"
down_revision: str | None = "d7e2b9c4a1f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "network_application",
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("base_url", sa.String(length=200), nullable=False),
        sa.Column("log_key", sa.String(length=300), nullable=False),
        sa.Column("log_origin", sa.String(length=200), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("contact_name", sa.String(length=50), nullable=False),
        sa.Column("contact_phone", sa.String(length=20), nullable=False),
        sa.Column("contact_email", sa.String(length=100), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("address_check", sa.String(length=300), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("child_id", sa.Integer(), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["network_child.id"],
            name=op.f("fk_network_application_child_id_network_child"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["user_account.id"],
            name=op.f("fk_network_application_decided_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_application")),
        sa.UniqueConstraint("public_key", name=op.f("uq_network_application_public_key")),
        sa.UniqueConstraint("reference", name=op.f("uq_network_application_reference")),
    )
    with op.batch_alter_table("network_application", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_network_application_log_origin"), ["log_origin"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_network_application_region_code"), ["region_code"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("network_application", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_application_region_code"))
        batch_op.drop_index(batch_op.f("ix_network_application_log_origin"))
    op.drop_table("network_application")
