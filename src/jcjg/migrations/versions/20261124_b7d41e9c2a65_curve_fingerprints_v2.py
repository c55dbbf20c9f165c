"""Testing: the re-used curve's fingerprint recomputed (issue 25): each bin's mean over time
minus the line through its neighbours, filed by rise time instead of peak force; peaks indexed
(the nearest twins in peak and rise time are compared too). The stored
curves are read back from the blob store; a curve whose blob cannot be read loses its
fingerprint (it is then never a candidate, and never found as a copy).

Revision ID: b7d41e9c2a65
Revises: e5a7c2d90b14
Create Date: 2026-11-24 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7d41e9c2a65"
down_revision: str | None = "e5a7c2d90b14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from jcjg.config import get_settings
    from jcjg.core.blobs import BlobCorrupted, BlobNotFound, blob_store
    from jcjg.testing import curves, fpindex
    from jcjg.testing.choices import TestKind

    # the nearest twins in peak and rise time are looked up by peak
    with op.batch_alter_table("force_curve", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_force_curve_fp_peak_kn"), ["fp_peak_kn"], unique=False)
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT c.id, c.blob_digest, r.kind FROM force_curve c"
            " JOIN test_record r ON r.id = c.test_record_id ORDER BY c.id"
        )
    ).all()
    bind.execute(sa.text("DELETE FROM force_curve_key"))
    if not rows:
        return
    store = blob_store(get_settings())
    update = sa.text(
        "UPDATE force_curve SET fp_vector = :vector, fp_peak_kn = :peak, fp_rise_s = :rise"
        " WHERE id = :id"
    )
    insert = sa.text("INSERT INTO force_curve_key (curve_id, key) VALUES (:id, :key)")
    for curve_id, digest, kind in rows:
        try:
            curve = curves.decode(store.get(digest))
        except (BlobNotFound, BlobCorrupted, curves.CurveError, OSError):
            fp = None
        else:
            fp = curves.fingerprint(curve, TestKind(kind).fingerprint_top)
        bind.execute(
            update,
            {
                "id": curve_id,
                "vector": fp.vector.tobytes() if fp else None,
                "peak": fp.peak_kn if fp else None,
                "rise": fp.rise_s if fp else None,
            },
        )
        if fp is not None:
            keys = fpindex.keys(curves.bucket(fp.rise_s), fpindex.band_values(fp.vector))
            bind.execute(insert, [{"id": curve_id, "key": int(k)} for k in keys.ravel()])


def downgrade() -> None:
    with op.batch_alter_table("force_curve", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_force_curve_fp_peak_kn"))
    # the old fingerprints cannot be told from the new by their columns: a downgrade leaves the
    # new ones (the old rule would compare them as its own, and find fewer copies)
    pass
