"""Test records marked for the nonconformity register; alerts indexed by subject.

Revision ID: fbb57a4f7554
Revises: 0618f7979daa
Create Date: 2026-11-21 15:23:49.532471
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "fbb57a4f7554"
down_revision: str | None = "0618f7979daa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index("ix_alert_subject", ["subject_type", "subject_id"], unique=False)

    with op.batch_alter_table("test_record", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("nonconforming_by", sa.String(length=8), nullable=False, server_default="")
        )
        batch_op.create_index(
            batch_op.f("ix_test_record_nonconforming_by"), ["nonconforming_by"], unique=False
        )

    # records stored before the mark: whoever judged them nonconforming
    op.execute(
        "UPDATE test_record SET nonconforming_by = CASE"
        " WHEN lab_judgement = 'nonconforming' AND platform_judgement = 'nonconforming'"
        " THEN 'both' WHEN lab_judgement = 'nonconforming' THEN 'lab'"
        " WHEN platform_judgement = 'nonconforming' THEN 'platform' ELSE '' END"
    )


def downgrade() -> None:
    with op.batch_alter_table("test_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_test_record_nonconforming_by"))
        batch_op.drop_column("nonconforming_by")

    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_subject")
