"""Demo video for ``make run``: the cameras of the demo institutions, one of them really
recorded, and a problem planted for each video rule (docs/video.md).

- 九江 中心 (the demo lab): a camera on its pressure machine that recorded the first cube test
  (``JZ-HNT-2026-0001``) from a generated clip (ffmpeg's ``testsrc2`` with a burnt-in clock,
  looped and cut without re-encoding into segments under the media folder, entered with
  :func:`jcjg.video.segments.ingest`), so that the record's replay plays; a camera on its
  universal testing machine, a dome over the lab, the receiving room's camera and a body camera
  at the project's site. Its other tests, and the on-site test, were not recorded:
  ``video_missing``.
- 九江恒信 (the institution of planted problems): concrete impermeability tested yesterday with no
  camera for that place (``coverage_incomplete``, and ``video_missing`` on the record); its
  receiving room's camera offline since 09:00 of a working day (an open outage:
  ``camera_offline``); its mechanical-testing camera with a segment file changed after it was
  recorded, and a closed outage of seven minutes (``video_gap``).
- 南昌建科: a receiving-room camera, registered, waiting to be connected.

Without ffmpeg the demo says so (a warning in the log) and enters the segments without files.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.workdays import BEIJING, beijing_date, is_workday
from jcjg.demo.testing import FIRST
from jcjg.registry.models import Equipment, Lab
from jcjg.tenancy.models import Institution
from jcjg.testing import service
from jcjg.testing.models import TestRecord
from jcjg.testing.schemas import RecordIn
from jcjg.video import segments
from jcjg.video.models import Camera, Outage, Segment

log = logging.getLogger("jcjg.demo")

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
CLIP_SECONDS = 30  # generated once, looped (copied, not encoded again) over the test's time
SEGMENT_SECONDS = 10
MARGIN = dt.timedelta(seconds=20)  # recorded before the test began and after it ended
IMPERMEABILITY = "HX-KS-2026-0001"  # 恒信's test with no camera for its place


@dataclass(frozen=True)
class Piece:
    """A segment file cut from the clip: its name, start within the recording, length."""

    name: str
    offset: float
    duration: float


def load(db: Session, settings: Settings, institutions: dict[str, Institution]) -> bool:
    """Create the demo cameras and recordings when the demo lab has none; True when created."""
    center = institutions.get("jj-center")
    if center is None or db.scalar(select(Camera.id).where(Camera.institution_id == center.id)):
        return False
    now = utcnow()
    with tempfile.TemporaryDirectory(prefix="jcjg-demo-video-") as work:
        clip = make_clip(settings, Path(work))
        _center(db, settings, center, clip)
        if (hengxin := institutions.get("jj-hengxin")) is not None:
            _hengxin(db, settings, hengxin, now, clip)
    if (jianke := institutions.get("nc-jianke")) is not None:
        _camera(db, jianke, "NC-CAM-01", "收样室摄像机", "receiving", location="一楼收样大厅")
    db.flush()
    return True


# --- cameras -----------------------------------------------------------------------------------


def _camera(db: Session, inst: Institution, code: str, name: str, place: str,
            **values: Any) -> Camera:  # fmt: skip
    host = 20 + int(code[-2:])
    fields: dict[str, Any] = {
        "institution_id": inst.id, "region_code": inst.region_code, "code": code, "name": name,
        "place_kind": place, "resolution": "1920x1080",
        "stream_url": f"rtsp://192.168.10.{host}:554/Streaming/Channels/101",
    }  # fmt: skip
    camera = Camera(**(fields | values))
    db.add(camera)
    db.flush()
    return camera


def _machines(db: Session, inst: Institution) -> dict[str, Equipment]:
    rows = db.scalars(select(Equipment).where(Equipment.institution_id == inst.id))
    return {e.name: e for e in rows}


def _lab(db: Session, inst: Institution) -> Lab | None:
    return db.scalars(select(Lab).where(Lab.institution_id == inst.id).order_by(Lab.id)).first()


# --- 九江 中心 ----------------------------------------------------------------------------------


def _center(db: Session, settings: Settings, inst: Institution, clip: Path | None) -> None:
    machines, lab = _machines(db, inst), _lab(db, inst)
    press = machines.get("全自动压力试验机")
    universal = machines.get("微机控制电液伺服万能试验机")
    lab_id = lab.id if lab else None
    press_cam = _camera(db, inst, "JZ-CAM-01", "力学室压力试验机摄像机", "mechanical",
                        equipment_id=press.id if press else None, lab_id=lab_id,
                        location="力学室 1 号压力试验机正前方")  # fmt: skip
    _camera(db, inst, "JZ-CAM-02", "力学室万能试验机摄像机", "mechanical",
            equipment_id=universal.id if universal else None, lab_id=lab_id,
            location="力学室 2 号万能试验机侧面")  # fmt: skip
    _camera(db, inst, "JZ-CAM-03", "力学室全景球机", "lab_overview", form="dome", lab_id=lab_id,
            location="力学室顶部中央")  # fmt: skip
    _camera(db, inst, "JZ-CAM-04", "收样室摄像机", "receiving", lab_id=lab_id,
            location="一楼收样窗口")  # fmt: skip
    record = db.scalars(select(TestRecord).where(TestRecord.institution_id == inst.id,
                                                 TestRecord.number == FIRST)).first()  # fmt: skip
    if record is not None:
        _body_camera(db, inst, record)
        _record(
            db, settings, clip, press_cam, (record.started_at - MARGIN, record.ended_at + MARGIN)
        )


def _body_camera(db: Session, inst: Institution, record: TestRecord) -> None:
    """A body camera at the site of the project of the lab's commission (the on-site test)."""
    project_id = record.project_id
    if project_id is None:
        from jcjg.sampling.models import Commission

        first = db.scalars(
            select(Commission).where(Commission.institution_id == inst.id).order_by(Commission.id)
        ).first()
        project_id = first.project_id if first else None
    _camera(db, inst, "JZ-CAM-05", "现场检测执法记录仪", "onsite", form="body",
            project_id=project_id, resolution="1280x720",
            location="现场检测人员随身佩戴")  # fmt: skip


# --- recording from a generated clip ------------------------------------------------------------


def _record(
    db: Session,
    settings: Settings,
    clip: Path | None,
    camera: Camera,
    span: tuple[dt.datetime, dt.datetime],
) -> list[Segment]:
    """Record ``camera`` over ``span``: segment files cut from the generated clip (without
    one, rows whose files are missing)."""
    start, end = span
    seconds = (end - start).total_seconds()
    relative = f"demo/{camera.id}"
    folder = settings.media_dir / relative
    pieces = cut_clip(settings, clip, folder, seconds) if clip is not None else None
    if pieces is None:
        count = int(seconds // SEGMENT_SECONDS) + 1
        pieces = [Piece(f"{n:05d}.ts", n * SEGMENT_SECONDS, SEGMENT_SECONDS) for n in range(count)]
    rows = []
    for piece in pieces:
        path = folder / piece.name
        digest, size = segments.file_sha256(path) if path.exists() else ("0" * 64, 0)
        rows.append(segments.ingest(db, camera=camera, relative_path=f"{relative}/{piece.name}",
                                    started_at=start + dt.timedelta(seconds=piece.offset),
                                    duration_s=piece.duration, sha256=digest,
                                    size_bytes=size))  # fmt: skip
    camera.status = "online"
    camera.status_since = start
    return rows


def _ffmpeg(settings: Settings, *arguments: str) -> bool:
    """Run ffmpeg quietly; False (and a warning) when it is missing or fails."""
    ffmpeg = shutil.which(settings.video_ffmpeg)
    if ffmpeg is None:
        log.warning(
            "演示数据：没有找到 ffmpeg（%s），录像片段只登记、没有文件", settings.video_ffmpeg
        )
        return False
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *arguments]
    try:
        subprocess.run(command, check=True, timeout=120, capture_output=True)  # noqa: S603
    except (OSError, subprocess.SubprocessError) as error:
        log.warning("演示数据：ffmpeg 生成录像失败（%s），录像片段只登记、没有文件", error)
        return False
    return True


def make_clip(settings: Settings, work: Path) -> Path | None:
    """A short generated clip (test pattern, a running clock) in ``work``; None without
    ffmpeg."""
    clock = "text='JCJG DEMO  %{pts\\:hms}'"
    draw = (
        f"drawtext=fontfile={FONT}:{clock}:x=20:y=20:fontsize=28:fontcolor=white:"
        "box=1:boxcolor=black@0.6"
        if FONT.exists()
        else "null"
    )
    clip = work / "clip.ts"
    made = _ffmpeg(settings, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=10",
                   "-t", str(CLIP_SECONDS), "-vf", draw, "-c:v", "libx264",
                   "-preset", "veryfast", "-crf", "30", "-g", "20", "-pix_fmt", "yuv420p",
                   "-an", str(clip))  # fmt: skip
    return clip if made else None


def cut_clip(
    settings: Settings,
    clip: Path,
    folder: Path,
    seconds: float,
    segment_seconds: int = SEGMENT_SECONDS,
) -> list[Piece] | None:
    """``seconds`` of the clip, looped, cut without re-encoding into segment files of
    ``segment_seconds`` in ``folder``; None when ffmpeg fails."""
    folder.mkdir(parents=True, exist_ok=True)
    listing = clip.parent / f"{folder.name}.csv"
    made = _ffmpeg(settings, "-stream_loop", "-1", "-i", str(clip), "-t", f"{seconds:.3f}",
                   "-c", "copy", "-f", "segment", "-segment_time", str(segment_seconds),
                   "-segment_format", "mpegts", "-segment_list", str(listing),
                   "-segment_list_type", "csv", str(folder / "%05d.ts"))  # fmt: skip
    if not made:
        return None
    with listing.open(encoding="utf-8", newline="") as handle:
        return [
            Piece(row[0], float(row[1]), float(row[2]) - float(row[1]))
            for row in csv.reader(handle)
            if len(row) >= 3
        ]


# --- 九江恒信: the planted problems -------------------------------------------------------------


def _working_morning(now: dt.datetime) -> dt.datetime:
    """09:00 Beijing of today when it is a working day and at least two hours ago, else of the
    working day before."""
    day = beijing_date(now)
    nine = dt.datetime.combine(day, dt.time(9), tzinfo=BEIJING)
    if is_workday(day) and now - nine >= dt.timedelta(hours=2):
        return nine.astimezone(dt.UTC)
    day -= dt.timedelta(days=1)
    while not is_workday(day):
        day -= dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(9), tzinfo=BEIJING).astimezone(dt.UTC)


def _hengxin(
    db: Session, settings: Settings, inst: Institution, now: dt.datetime, clip: Path | None
) -> None:
    machines, lab = _machines(db, inst), _lab(db, inst)
    lab_id = lab.id if lab else None
    morning = _working_morning(now)
    # the receiving room's camera stopped at 09:00 of a working day: camera_offline
    door = _camera(db, inst, "HX-CAM-01", "收样室摄像机", "receiving", lab_id=lab_id,
                   status="offline", status_since=morning, location="收样室门口")  # fmt: skip
    db.add(Outage(camera_id=door.id, institution_id=inst.id, region_code=inst.region_code,
                  started_at=morning, reason="RTSP 连接超时，摄像机无响应"))  # fmt: skip
    # the mechanical-testing camera: a segment file changed after it was recorded, and seven
    # minutes with no recording the same morning: video_gap
    press = machines.get("全自动压力试验机")
    cam = _camera(db, inst, "HX-CAM-02", "力学室摄像机", "mechanical", lab_id=lab_id,
                  equipment_id=press.id if press else None, location="力学室")  # fmt: skip
    start = morning + dt.timedelta(minutes=50)
    rows = _record(db, settings, clip, cam, (start, start + dt.timedelta(seconds=60)))
    _tamper(settings, rows)
    cam.integrity = [_problem(p) for p in segments.verify_camera(db, settings, cam.id)] or [
        {"kind": "file_changed", "sequence": 3, "detail": "录像文件已被改动",
         "started_at": rows[2].started_at.isoformat() if len(rows) > 2 else start.isoformat()}
    ]  # fmt: skip
    cam.verified_at = now
    hole = start + dt.timedelta(minutes=30)
    db.add(Outage(camera_id=cam.id, institution_id=inst.id, region_code=inst.region_code,
                  started_at=hole, ended_at=hole + dt.timedelta(minutes=7),
                  reason="网络中断"))  # fmt: skip
    _impermeability_test(db, settings, inst, now)


def _tamper(settings: Settings, rows: list[Segment]) -> None:
    """Change the third segment's file after it was recorded (as an edit would)."""
    if len(rows) < 3:
        return
    path = segments.media_path(settings, rows[2].path)
    if path.exists():
        with path.open("ab") as handle:
            handle.write(b"\x47" + b"\xff" * 187)  # one more (padding) transport-stream packet


def _problem(problem: segments.Problem) -> dict[str, Any]:
    return {
        "kind": problem.kind,
        "sequence": problem.sequence,
        "detail": problem.detail,
        "started_at": problem.started_at.isoformat() if problem.started_at else None,
    }


def _impermeability_test(db: Session, settings: Settings, inst: Institution,
                         now: dt.datetime) -> None:  # fmt: skip
    """Concrete impermeability (抗渗等级) tested yesterday: 恒信 has no camera for it."""
    ended = now - dt.timedelta(hours=20)
    data = RecordIn.model_validate(
        {
            "message_id": str(uuid.uuid4()),
            "institution_code": inst.code,
            "number": IMPERMEABILITY,
            "kind": "other",
            "item_code": "0108",
            "parameter_codes": ["010802"],
            "standard": "GB/T 50082-2024",
            "lab_name": "抗渗室",
            "inspectors": [{"name": "刘洋"}],
            "started_at": (ended - dt.timedelta(hours=8)).isoformat(),
            "ended_at": ended.isoformat(),
            "acquisition": "manual",
            "grade": "P8",
            "specimens": [{"position": n, "values": {"pressure_mpa": 0.9}} for n in range(1, 7)],
            "judgement": "conforming",
        }
    )
    service.store_record(db=db, settings=settings, institution=inst, data=data,
                         received_at=ended + dt.timedelta(minutes=10))  # fmt: skip
