"""A person's ID number and registered certificate stored as certificate lending compares them:
without surrounding blanks, an ID number's X in capitals (``Person`` normalises them on write
from now on; a narrowed lending run matches them in SQL, issue 44).

Revision ID: c3a9e71d5b40
Revises: bbfe79d55845
Create Date: 2026-11-29 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c3a9e71d5b40"
down_revision: str | None = "bbfe79d55845"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_person = sa.table(
    "person",
    sa.column("id", sa.Integer),
    sa.column("id_number", sa.String),
    sa.column("registered_certificate_no", sa.String),
)


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_person.c.id, _person.c.id_number, _person.c.registered_certificate_no)
    ).all()
    for person_id, number, certificate in rows:
        plain_number = number.strip().upper() if number is not None else None
        plain_certificate = (certificate.strip() or None) if certificate is not None else None
        if (plain_number, plain_certificate) != (number, certificate):
            bind.execute(
                _person.update()
                .where(_person.c.id == person_id)
                .values(id_number=plain_number, registered_certificate_no=plain_certificate)
            )


def downgrade() -> None:
    """The blanks and the lower-case x are not put back: they never told people apart."""
