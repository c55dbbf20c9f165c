"""Alert rules on recording: a camera offline in working hours, and holes in a camera's
recording (integrity problems, or an outage that left a gap).

Working hours are Beijing statutory working days (``jcjg.core.workdays``) between the
thresholds ``work_start_hour`` and ``work_end_hour`` (08:00-18:00 by default); ``every_day``
= 1 counts every day (a lab that works weekends). Time outside working hours does not count
towards a threshold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import or_, select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, RuleContext, Thresholds, rule
from jcjg.core.workdays import BEIJING, beijing_date, beijing_midnight, is_workday
from jcjg.video.choices import CameraStatus
from jcjg.video.models import Camera, CameraLease, Outage

_HOURS = {"work_start_hour": 8, "work_end_hour": 18, "every_day": 0}
_HOUR_LABELS = {
    "work_start_hour": "工作时间开始（时）",
    "work_end_hour": "工作时间结束（时）",
    "every_day": "每天均计为工作日（1 是，0 否）",
}
_MAX_DAYS = 62  # a longer span counts as long enough anyway


def working_seconds(start: dt.datetime, end: dt.datetime, hours: Thresholds) -> float:
    """Seconds of ``start``–``end`` inside working hours (Beijing)."""
    if end <= start:
        return 0.0
    first, last = beijing_date(start), beijing_date(end)
    last = min(last, first + dt.timedelta(days=_MAX_DAYS))
    total = 0.0
    day = first
    while day <= last:
        if hours.get("every_day") or is_workday(day):
            midnight = beijing_midnight(day)
            open_ = midnight + dt.timedelta(hours=float(hours["work_start_hour"]))
            close = midnight + dt.timedelta(hours=float(hours["work_end_hour"]))
            span = (min(end, close) - max(start, open_)).total_seconds()
            total += max(span, 0.0)
        day += dt.timedelta(days=1)
    return total


def _beijing(moment: dt.datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _finding(camera: Camera, key: str, facts: dict[str, Any]) -> Finding:
    return Finding(
        key=key,
        subject_type="camera",
        subject_id=str(camera.id),
        subject_repr=f"{camera.code} {camera.name}",
        subject_number=camera.code,
        institution_id=camera.institution_id,
        region_code=camera.region_code,
        project_id=camera.project_id,
        facts={"摄像机": camera.name, "编号": camera.code, "位置": camera.location, **facts},
    )


def _cameras(ctx: RuleContext) -> list[Camera]:
    stmt = select(Camera).where(Camera.status != CameraStatus.RETIRED.value)
    return list(ctx.db.scalars(ctx.narrow(stmt, Camera.institution_id)))


@rule(
    "camera_offline",
    title="监控摄像机在工作时间离线",
    clause="000 4.3.4（7）；001 4.2.1；003 二",
    severity=Severity.WARNING,
    subject_type="camera",
    defaults={"minutes": 30, "pending_hours": 24, **_HOURS},
    labels={
        "minutes": "离线超过（分钟，仅计工作时间）",
        "pending_hours": "登记后接入录像的期限（小时，仅计工作时间）",
        **_HOUR_LABELS,
    },
    triggers=(Camera, Outage),
    description="在用摄像机在工作时间内离线（未生成录像）超过阈值，或没有任何录像服务持有它的录像租约"
    "超过阈值；新登记的摄像机在“登记后接入录像的期限”内接入即可；摄像机恢复录像后自动关闭。",
)
def camera_offline(ctx: RuleContext) -> Iterator[Finding]:
    cameras = _cameras(ctx)
    ids = [c.id for c in cameras]
    outages = {
        o.camera_id: o
        for o in ctx.db.scalars(
            select(Outage).where(Outage.camera_id.in_(ids), Outage.ended_at.is_(None))
        )
    }
    held = {
        lease.camera_id: lease
        for lease in ctx.db.scalars(select(CameraLease).where(CameraLease.camera_id.in_(ids)))
    }
    for camera in cameras:
        limits = ctx.thresholds(camera.region_code)
        outage, lease = outages.get(camera.id), held.get(camera.id)
        allowed = float(limits["minutes"]) * 60
        if outage is not None:
            since, why = outage.started_at, outage.reason or "离线"
        elif lease is None and camera.last_segment_at is None:
            # registered, never recorded: the lab and the operator have time to connect it
            since, why = camera.created_at, "登记后一直未接入录像"
            allowed = max(allowed, float(limits["pending_hours"]) * 3600)
        elif lease is None or lease.expires_at < ctx.now:
            since = lease.expires_at if lease else (camera.last_segment_at or camera.created_at)
            why = "无录像服务接管"
        else:
            continue
        lasted = working_seconds(since, ctx.now, limits)
        if lasted >= allowed:
            yield _finding(
                camera,
                f"camera:{camera.id}",
                {
                    "离线起始": _beijing(since),
                    "工作时间内离线分钟": round(lasted / 60),
                    "原因": why,
                },
            )


_PROBLEM_WORDS = {
    "chain": "哈希链不连续",
    "sequence": "片段编号缺失",
    "file_missing": "录像文件缺失",
    "file_changed": "录像文件被改动",
    "batch": "与存证链头不一致",
}


@rule(
    "video_gap",
    title="录像缺失或被改动",
    clause="jz57 第二十二条（检测影像资料）；001 4.2.1；003 二（不得剪辑，保持时间信息完整）",
    severity=Severity.CRITICAL,
    subject_type="camera",
    defaults={"gap_seconds": 60, "keep_hours": 24, **_HOURS},
    labels={
        "gap_seconds": "录像中断超过（秒，仅计工作时间）",
        "keep_hours": "中断结束后预警保留（小时）",
        **_HOUR_LABELS,
    },
    triggers=(Camera, Outage),
    description="两类情形：一是完整性核查发现录像片段哈希链断裂、编号缺失、文件缺失或被改动、与存证链头"
    "不一致（问题消除前一直保持）；二是工作时间内录像中断超过阈值留下空档（中断期间即预警，恢复录像后再保留"
    "“中断结束后预警保留”小时供监管人员查看，到期自动关闭；需要追查的，在此期间立案督办）。",
)
def video_gap(ctx: RuleContext) -> Iterator[Finding]:
    cameras = {c.id: c for c in _cameras(ctx)}
    for camera in cameras.values():
        if camera.integrity:
            yield _finding(camera, f"camera:{camera.id}:integrity", _integrity_facts(camera))
    longest_keep = max(
        (float(ctx.thresholds(c.region_code)["keep_hours"]) for c in cameras.values()),
        default=0.0,
    )
    recent = ctx.now - dt.timedelta(hours=longest_keep)
    stmt = select(Outage).where(
        Outage.camera_id.in_(list(cameras)),
        or_(Outage.ended_at.is_(None), Outage.ended_at >= recent),
    )
    for outage in ctx.db.scalars(stmt):
        camera = cameras[outage.camera_id]
        limits = ctx.thresholds(camera.region_code)
        end = outage.ended_at or ctx.now
        if outage.ended_at and ctx.now - outage.ended_at > dt.timedelta(
            hours=float(limits["keep_hours"])
        ):
            continue
        lasted = working_seconds(outage.started_at, end, limits)
        if lasted < float(limits["gap_seconds"]):
            continue
        yield _finding(
            camera,
            f"camera:{camera.id}:outage:{outage.id}",
            {
                "中断开始": _beijing(outage.started_at),
                "中断结束": _beijing(outage.ended_at) if outage.ended_at else "仍在中断",
                "工作时间内中断秒数": round(lasted),
                "原因": outage.reason,
            },
        )


def _integrity_facts(camera: Camera) -> dict[str, Any]:
    problems = camera.integrity[:20]
    return {
        "问题数": len(camera.integrity),
        "问题": [
            f"第 {p.get('sequence')} 段：{_PROBLEM_WORDS.get(str(p.get('kind')), p.get('kind'))}"
            f"（{p.get('detail', '')}）"
            for p in problems
        ],
        "核查时间": _beijing(camera.verified_at) if camera.verified_at else "",
    }
