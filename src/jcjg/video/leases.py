"""Which recorder records which camera: leases claimed with a compare-and-set, renewed by the
holder's heartbeat, released on stop, taken over by another recorder once expired.

Every write is conditional on the row's state (no lease, an expired one, or one the caller
holds), so several recorders on SQLite or PostgreSQL never hold the same camera at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jcjg.video.choices import CameraStatus
from jcjg.video.models import Camera, CameraLease


def _won(result: object) -> bool:
    return bool(getattr(result, "rowcount", 0) == 1)


def claim(
    db: Session,
    *,
    holder: str,
    now: dt.datetime,
    lease_seconds: float,
    limit: int,
    exclude: Collection[int] = (),
) -> list[int]:
    """Claim up to ``limit`` cameras (not retired) that no recorder holds or whose lease
    expired; returns the ids won. Commits each claim."""
    if limit <= 0:
        return []
    expires = now + dt.timedelta(seconds=lease_seconds)
    stmt = (
        select(Camera.id, CameraLease.camera_id)
        .outerjoin(CameraLease, CameraLease.camera_id == Camera.id)
        .where(
            Camera.status != CameraStatus.RETIRED.value,
            or_(CameraLease.camera_id.is_(None), CameraLease.expires_at < now),
        )
        .order_by(Camera.id)
        .limit(limit + len(exclude))
    )
    won: list[int] = []
    for camera_id, leased in db.execute(stmt).all():
        if camera_id in exclude or len(won) >= limit:
            continue
        if leased is None:
            try:
                with db.begin_nested():
                    db.add(
                        CameraLease(
                            camera_id=camera_id,
                            holder=holder,
                            acquired_at=now,
                            heartbeat_at=now,
                            expires_at=expires,
                        )
                    )
            except IntegrityError:  # another recorder inserted it first
                continue
            won.append(camera_id)
        elif _won(
            db.execute(
                update(CameraLease)
                .where(CameraLease.camera_id == camera_id, CameraLease.expires_at < now)
                .values(holder=holder, acquired_at=now, heartbeat_at=now, expires_at=expires)
            )
        ):
            won.append(camera_id)
    db.commit()
    return won


def renew(
    db: Session, *, holder: str, camera_ids: Collection[int], now: dt.datetime, lease_seconds: float
) -> set[int]:
    """Renew the caller's leases; returns those still held (and not retired). Commits."""
    if not camera_ids:
        return set()
    db.execute(
        update(CameraLease)
        .where(CameraLease.camera_id.in_(sorted(camera_ids)), CameraLease.holder == holder)
        .values(heartbeat_at=now, expires_at=now + dt.timedelta(seconds=lease_seconds))
    )
    held = set(
        db.scalars(
            select(CameraLease.camera_id)
            .join(Camera, Camera.id == CameraLease.camera_id)
            .where(
                CameraLease.camera_id.in_(sorted(camera_ids)),
                CameraLease.holder == holder,
                Camera.status != CameraStatus.RETIRED.value,
            )
        )
    )
    db.commit()
    return held


def release(db: Session, *, holder: str, camera_ids: Collection[int]) -> None:
    """Give the caller's leases up (another recorder may claim them at once). Commits."""
    if camera_ids:
        db.execute(
            delete(CameraLease).where(
                CameraLease.camera_id.in_(sorted(camera_ids)), CameraLease.holder == holder
            )
        )
    db.commit()
