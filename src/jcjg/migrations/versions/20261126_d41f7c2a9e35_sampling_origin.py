"""A child platform's samples, seals, witness keys and witness records rebuilt on its parent
keep where they came from; the child's samplers and witnesses hold no account here (issue 41).

Revision ID: d41f7c2a9e35
Revises: 9e3f7a0b4c62
Create Date: 2026-11-26 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d41f7c2a9e35"
down_revision: str | None = "9e3f7a0b4c62"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ORIGIN = ("sample", "sample_seal", "witness_record")


def upgrade() -> None:
    for table in _ORIGIN:
        op.add_column(table, sa.Column("origin", sa.String(100), nullable=True))
        op.add_column(table, sa.Column("origin_index", sa.BigInteger(), nullable=True))
    op.add_column(
        "sample", sa.Column("sampler_name", sa.String(64), nullable=False, server_default="")
    )
    op.add_column(
        "sample_seal", sa.Column("witness_name", sa.String(64), nullable=False, server_default="")
    )
    op.add_column("witness_key", sa.Column("origin", sa.String(100), nullable=True))
    with op.batch_alter_table("sample", schema=None) as batch_op:
        batch_op.alter_column("sampler_user_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("sampler_name", server_default=None)
    with op.batch_alter_table("sample_seal", schema=None) as batch_op:
        batch_op.alter_column("witness_user_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("witness_name", server_default=None)
    with op.batch_alter_table("witness_key", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # a child's rows name no account here: they go with the columns that mark them
    op.execute("DELETE FROM witness_record WHERE origin IS NOT NULL")
    op.execute("DELETE FROM sample_seal WHERE origin IS NOT NULL")
    children = "SELECT id FROM sample WHERE origin IS NOT NULL"
    op.execute(f"UPDATE commission_sample SET sample_id = NULL WHERE sample_id IN ({children})")  # noqa: S608
    op.execute(f"UPDATE sample_receipt SET sample_id = NULL WHERE sample_id IN ({children})")  # noqa: S608
    op.execute("DELETE FROM sample WHERE origin IS NOT NULL")
    op.execute("DELETE FROM witness_key WHERE origin IS NOT NULL")
    with op.batch_alter_table("witness_key", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("origin")
    with op.batch_alter_table("sample_seal", schema=None) as batch_op:
        batch_op.alter_column("witness_user_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("witness_name")
        batch_op.drop_column("origin_index")
        batch_op.drop_column("origin")
    with op.batch_alter_table("sample", schema=None) as batch_op:
        batch_op.alter_column("sampler_user_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("sampler_name")
        batch_op.drop_column("origin_index")
        batch_op.drop_column("origin")
    with op.batch_alter_table("witness_record", schema=None) as batch_op:
        batch_op.drop_column("origin_index")
        batch_op.drop_column("origin")
