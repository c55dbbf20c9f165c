"""A flat frame's photo print (a dHash with at most 4 bits set, or at most 4 clear: a blank,
dark or burnt-out picture) keeps no bands: photo_reuse compares it by its file only, and a
narrowed run's look-up by band would read every other flat frame (issue 44).

Revision ID: d84b2f6a1c97
Revises: c3a9e71d5b40
Create Date: 2026-11-29 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d84b2f6a1c97"
down_revision: str | None = "c3a9e71d5b40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FLAT_BITS = 4  # as jcjg.sampling.reuse.FLAT_BITS when this was written

_print = sa.table(
    "photo_print",
    sa.column("id", sa.Integer),
    sa.column("phash", sa.String),
    sa.column("band0", sa.Integer),
    sa.column("band1", sa.Integer),
    sa.column("band2", sa.Integer),
    sa.column("band3", sa.Integer),
)


def upgrade() -> None:
    bind = op.get_bind()
    banded = bind.execute(
        sa.select(_print.c.id, _print.c.phash).where(
            _print.c.phash.is_not(None), _print.c.band0.is_not(None)
        )
    ).all()
    flat = [i for i, phash in banded if not FLAT_BITS < int(phash, 16).bit_count() < 64 - FLAT_BITS]
    for start in range(0, len(flat), 500):
        bind.execute(
            _print.update()
            .where(_print.c.id.in_(flat[start : start + 500]))
            .values(band0=None, band1=None, band2=None, band3=None)
        )


def downgrade() -> None:
    """Flat frames stay without bands: their bands matched every other flat frame."""
