"""A child platform's alerts and their handling rebuilt on its parent keep where they came
from; a nonconformity the child handled says so, and so does a lab's receipt check made on the
child's page (issue 41).

Revision ID: 3a7c9e51d2b8
Revises: c4aee0da1fa8
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3a7c9e51d2b8"
down_revision: str | None = "c4aee0da1fa8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alert", sa.Column("origin", sa.String(100), nullable=True))
    op.add_column("alert", sa.Column("origin_index", sa.BigInteger(), nullable=True))
    op.add_column("nonconformity", sa.Column("handling_origin", sa.String(100), nullable=True))
    op.add_column(
        "nonconformity", sa.Column("handling_origin_index", sa.BigInteger(), nullable=True)
    )
    op.create_index("ix_alert_case_event_ledger_index", "alert_case_event", ["ledger_index"])
    op.add_column("sample_receipt", sa.Column("origin", sa.String(100), nullable=True))
    op.add_column("sample_receipt", sa.Column("origin_index", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_index("ix_alert_case_event_ledger_index", table_name="alert_case_event")
    op.execute("DELETE FROM sample_receipt WHERE origin IS NOT NULL")
    with op.batch_alter_table("sample_receipt", schema=None) as batch_op:
        batch_op.drop_column("origin_index")
        batch_op.drop_column("origin")
    # a child's alerts are the child's: they go with the columns that mark them
    children = "SELECT id FROM alert WHERE origin IS NOT NULL"
    cases = f"SELECT id FROM alert_case WHERE alert_id IN ({children})"  # noqa: S608
    op.execute(f"DELETE FROM alert_case_event WHERE case_id IN ({cases})")  # noqa: S608
    op.execute(f"DELETE FROM alert_case WHERE alert_id IN ({children})")  # noqa: S608
    op.execute("DELETE FROM alert WHERE origin IS NOT NULL")
    with op.batch_alter_table("nonconformity", schema=None) as batch_op:
        batch_op.drop_column("handling_origin_index")
        batch_op.drop_column("handling_origin")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("origin_index")
        batch_op.drop_column("origin")
