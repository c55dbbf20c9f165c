"""An alert's subject number (a record's or report's number, a sample's code, an equipment's
asset number ...), filled by the rules from now on and, for the alerts already open or closed,
from the subject's row where the subject is a record, report, sample, equipment, on-site plan
or record, contract, commission or rectification order.

Revision ID: 2ac2d44b939c
Revises: 85f2067790c0
Create Date: 2026-11-23 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2ac2d44b939c"
down_revision: str | None = "85f2067790c0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# subject_type -> (table, the column holding its number, the column subject_id names)
BACKFILL = {
    "test_record": ("test_record", "number", "id"),
    "report": ("report", "number", "id"),
    "onsite_plan": ("onsite_plan", "number", "id"),
    "onsite_record": ("onsite_record", "number", "id"),
    "contract": ("contract", "number", "id"),
    "commission": ("commission", "number", "id"),
    "rectification_order": ("rectification_order", "number", "id"),
    "equipment": ("equipment", "asset_number", "id"),
    "sample": ("sample", "sample_code", "sample_code"),
}


def upgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_number", sa.String(length=64), nullable=True))
    for kind, (table, number, key) in BACKFILL.items():
        # a table name and two column names of ours, never input
        op.execute(
            f"UPDATE alert SET subject_number = (SELECT substr(t.{number}, 1, 64) FROM {table} t"  # noqa: S608
            f" WHERE CAST(t.{key} AS VARCHAR(64)) = alert.subject_id)"
            f" WHERE alert.subject_type = '{kind}' AND alert.subject_id IS NOT NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("subject_number")
