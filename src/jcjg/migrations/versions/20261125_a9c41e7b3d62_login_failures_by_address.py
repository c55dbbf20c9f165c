"""Failed logins counted per network address (issue 40 item 3): an index on the audit log by
address and time, which the login's per-address throttle reads.

Revision ID: a9c41e7b3d62
Revises: e5a2c9d41b07
Create Date: 2026-11-25 18:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a9c41e7b3d62"
down_revision: str | None = "e5a2c9d41b07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_log_ip_at", "audit_log", ["ip", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_log_ip_at", table_name="audit_log")
