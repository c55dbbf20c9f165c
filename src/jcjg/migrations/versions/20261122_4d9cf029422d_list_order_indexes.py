"""The lists' orders as indexes: test records by end, reports by receipt and nonconformities
by finding, each with the id after it, so that a page (by offset or after a keyset cursor) is
an index range read newest first; they replace the single-column indexes they begin with.

Revision ID: 4d9cf029422d
Revises: 6e59928b69b9
Create Date: 2026-11-22 13:19:11.441876
"""

from collections.abc import Sequence

from alembic import op

revision: str = "4d9cf029422d"
down_revision: str | None = "6e59928b69b9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("nonconformity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nonconformity_found_at"))
        batch_op.create_index("ix_nonconformity_found_at_id", ["found_at", "id"], unique=False)

    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_received_at"))
        batch_op.create_index("ix_report_received_at_id", ["received_at", "id"], unique=False)

    with op.batch_alter_table("test_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_test_record_ended_at"))
        batch_op.create_index("ix_test_record_ended_at_id", ["ended_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("test_record", schema=None) as batch_op:
        batch_op.drop_index("ix_test_record_ended_at_id")
        batch_op.create_index(batch_op.f("ix_test_record_ended_at"), ["ended_at"], unique=False)

    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.drop_index("ix_report_received_at_id")
        batch_op.create_index(batch_op.f("ix_report_received_at"), ["received_at"], unique=False)

    with op.batch_alter_table("nonconformity", schema=None) as batch_op:
        batch_op.drop_index("ix_nonconformity_found_at_id")
        batch_op.create_index(batch_op.f("ix_nonconformity_found_at"), ["found_at"], unique=False)
