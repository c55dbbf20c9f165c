"""data set types: a data set holds one or several message types

Revision ID: a8d4f2c61e07
Revises: c6e0d3a9f514
Create Date: 2026-11-27 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a8d4f2c61e07"
down_revision: str | None = "c6e0d3a9f514"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_set_type",
        sa.Column("data_set_id", sa.Integer(), nullable=False),
        sa.Column("message_type", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["data_set_id"], ["data_set.id"], name=op.f("fk_data_set_type_data_set_id_data_set")
        ),
        sa.PrimaryKeyConstraint("data_set_id", "message_type", name=op.f("pk_data_set_type")),
    )
    with op.batch_alter_table("data_set_type", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_data_set_type_message_type"), ["message_type"], unique=False
        )
    # every set compiled so far holds its one type
    op.execute(
        "INSERT INTO data_set_type (data_set_id, message_type, position) "
        "SELECT id, message_type, 0 FROM data_set"
    )


def downgrade() -> None:
    with op.batch_alter_table("data_set_type", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_set_type_message_type"))
    op.drop_table("data_set_type")
