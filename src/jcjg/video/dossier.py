"""The video part of an institution's dossier (``registry.dossier``): its cameras by status."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.auth.scopes import Principal, restrict
from jcjg.core.dossier import Figure, Section
from jcjg.tenancy.models import Institution
from jcjg.video.choices import CameraStatus
from jcjg.video.models import Camera


def sections(db: Session, principal: Principal, inst: Institution) -> Iterator[Section]:
    if not principal.can("camera:read"):
        return
    mine = restrict(select(Camera.status, func.count()), principal, "read").where(
        Camera.institution_id == inst.id
    )
    counts = dict(db.execute(mine.group_by(Camera.status)).all())
    listed = f"/video/cameras?institution={inst.id}"
    yield Section(
        "视频监控",
        70,
        figures=(
            Figure(
                "摄像机",
                sum(n for s, n in counts.items() if s != CameraStatus.RETIRED.value),
                listed,
            ),
            Figure(CameraStatus.ONLINE.label, counts.get(CameraStatus.ONLINE.value, 0)),
            Figure(
                CameraStatus.OFFLINE.label,
                counts.get(CameraStatus.OFFLINE.value, 0),
                f"{listed}&status=offline",
                tone="bad",
            ),
        ),
        more=("该机构的摄像机与录像", listed),
        anchor="video",
    )
