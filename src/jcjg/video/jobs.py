"""The video domain's periodic work: notarising segment batches, checking each camera's
recording, removing files past retention (never those an open case or nonconformity holds)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts import engine
from jcjg.config import get_settings
from jcjg.core.db import utcnow
from jcjg.core.jobs import job
from jcjg.ledger import service as ledger
from jcjg.tenancy.models import Institution
from jcjg.video import integrity, retention
from jcjg.video.models import Camera, Segment, SegmentBatch

ENTRY_TYPE = "video_segment:notarise"


@job("video.notarise", title="录像片段哈希链存证", every=dt.timedelta(minutes=5))
def notarise(db: Session, log: logging.Logger) -> None:
    """Notarise each camera's segments not yet in a batch, in batches of up to
    ``video_batch_segments``: one ledger leaf (camera, institution, numbers, chain head, times)
    per batch."""
    size = get_settings().video_batch_segments
    batches = 0
    pending = db.execute(
        select(Segment.camera_id).where(Segment.batch_id.is_(None)).group_by(Segment.camera_id)
    ).scalars()
    for camera_id in list(pending):
        camera = db.get_one(Camera, camera_id)
        institution = db.get_one(Institution, camera.institution_id)
        rows = list(
            db.scalars(
                select(Segment)
                .where(Segment.camera_id == camera_id, Segment.batch_id.is_(None))
                .order_by(Segment.sequence)
            )
        )
        for start in range(0, len(rows), size):
            batches += _batch(db, camera, institution.code, rows[start : start + size])
        db.commit()
    log.info("%d batches notarised", batches)


def _batch(db: Session, camera: Camera, institution_code: str, rows: list[Segment]) -> int:
    first, last = rows[0], rows[-1]
    receipt = ledger.notarise(
        db,
        ENTRY_TYPE,
        {
            "camera": camera.code,
            "institution": institution_code,
            "first_sequence": first.sequence,
            "last_sequence": last.sequence,
            "chain_head": last.chain,
            "from": first.started_at.isoformat(),
            "to": last.ended_at.isoformat(),
        },
    )
    batch = SegmentBatch(
        camera_id=camera.id,
        institution_id=camera.institution_id,
        region_code=camera.region_code,
        project_id=camera.project_id,
        first_sequence=first.sequence,
        last_sequence=last.sequence,
        chain_head=last.chain,
        ledger_index=receipt.index,
    )
    db.add(batch)
    db.flush()
    for row in rows:
        row.batch_id = batch.id
    return 1


@job("video.verify", title="录像完整性核查", every=dt.timedelta(minutes=5))
def verify(db: Session, log: logging.Logger) -> None:
    """Check each camera's recording incrementally (:mod:`jcjg.video.integrity`), keep what
    was found on the camera, then judge ``camera_offline`` and ``video_gap``."""
    settings = get_settings()
    now = utcnow()
    ids = db.scalars(select(Camera.id).where(Camera.status != "retired").order_by(Camera.id))
    problems = 0
    for camera_id in list(ids):
        problems += integrity.check(db, settings, db.get_one(Camera, camera_id), now)
        db.commit()
    for rule_id in ("camera_offline", "video_gap"):
        result = engine.run_rule(db, rule_id, now=now)
        log.info("%s: %d new, %d closed", rule_id, result.raised, result.closed)
    db.commit()
    log.info("%d problems found", problems)


@job("video.retention", title="录像保存期限到期清理", every=dt.timedelta(hours=6))
def retention_job(db: Session, log: logging.Logger) -> None:
    """Remove the files of segments past their region's retention, except those an open case
    or nonconformity holds (:mod:`jcjg.video.retention`); rows and hashes stay."""
    removed, held = retention.enforce(db, get_settings(), utcnow())
    log.info("%d segment files removed, %d held", removed, held)
