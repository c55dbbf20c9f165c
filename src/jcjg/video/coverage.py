"""Rules on what the cameras cover (003 二（二）、（三）; 001 4.2.1; 002 第七条（九）; 000 4.3.4
第 7 项): a test that had to be filmed with no recording of its time (``video_missing``), and an
institution doing tests of a listed place with no camera there (``coverage_incomplete``). Which
tests must be filmed, and where, is :mod:`jcjg.video.places`; docs/video.md "预警规则".

Which cameras count for a test record: those on its machines (``Camera.equipment_id``, the
machines named by asset number in ``TestRecord.equipment``); when none of its machines has a
camera, every camera of the institution watching a place the record needs (for an on-site test,
the cameras of the record's project and the institution's on-site cameras of no project). A
retired camera's old recording still counts for the tests it recorded.

A machine of mechanical tests counts as watched (``coverage_incomplete``) when a camera in service
is on it, or a mechanical-testing camera on no machine (a dome over the room, 001 4.2.1.1)
watches the lab the machine stands in (a machine registered without a lab: such a camera of the
institution registered without a lab).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Text, cast, func, select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, RuleContext, rule
from jcjg.config import Settings, get_settings
from jcjg.core.workdays import BEIJING
from jcjg.registry.models import Equipment
from jcjg.testing.models import OnSiteRecord, TestRecord
from jcjg.video import segments
from jcjg.video.choices import CameraStatus, PlaceKind
from jcjg.video.models import Camera
from jcjg.video.places import Places
from jcjg.video.retention import DEFAULT_MONTHS, months_before, months_for

CLAUSE = "003 二（二）、（三）；001 4.2.1；002 第七条（九）；000 4.3.4 第 7 项"
LONGEST_DAYS = 366  # coverage_incomplete looks back at most this far, whatever its threshold


# --- times ----------------------------------------------------------------------------------


def _span(start: dt.datetime, end: dt.datetime) -> str:
    """A time range in Beijing time: "11-23 09:00:05～09:08:00"."""
    a, b = start.astimezone(BEIJING), end.astimezone(BEIJING)
    tail = "%H:%M:%S" if a.date() == b.date() else "%m-%d %H:%M:%S"
    return f"{a:%m-%d %H:%M:%S}～{b.strftime(tail)}"


# --- cameras ---------------------------------------------------------------------------------


def fits(camera: Camera, place: PlaceKind, project_id: int | None) -> bool:
    """Whether ``camera`` watches ``place``. On site: the cameras of the record's project, and
    the on-site cameras of no project (carried from site to site); another project's not."""
    if place is not PlaceKind.ONSITE:
        return camera.place_kind == place.value
    if camera.project_id is not None:
        return project_id is not None and camera.project_id == project_id
    return camera.place_kind == place.value


def considered(
    cameras: Sequence[Camera],
    machine_ids: Iterable[int],
    places: Iterable[PlaceKind],
    project_id: int | None,
) -> list[Camera]:
    """The cameras whose recording counts for a record: those on its machines, else those
    watching a place it needs."""
    machines = set(machine_ids)
    on_machines = [c for c in cameras if c.equipment_id is not None and c.equipment_id in machines]
    if on_machines:
        return on_machines
    wanted = list(places)
    return [c for c in cameras if any(fits(c, p, project_id) for p in wanted)]


@dataclass
class _Institutions:
    """The cameras and the machines (by asset number) of the institutions in a run."""

    cameras: dict[int, list[Camera]]
    machines: dict[int, dict[str, Equipment]]

    @classmethod
    def read(cls, ctx: RuleContext) -> _Institutions:
        cameras: dict[int, list[Camera]] = defaultdict(list)
        stmt = select(Camera).order_by(Camera.id)
        for camera in ctx.db.scalars(ctx.narrow(stmt, Camera.institution_id)):
            cameras[camera.institution_id].append(camera)
        machines: dict[int, dict[str, Equipment]] = defaultdict(dict)
        stmt_eq = select(Equipment).where(Equipment.asset_number.is_not(None))
        for machine in ctx.db.scalars(ctx.narrow(stmt_eq, Equipment.institution_id)):
            machines[machine.institution_id][machine.asset_number or ""] = machine
        return cls(cameras, machines)

    def machines_of(self, institution_id: int, assets: Iterable[Any]) -> list[Equipment]:
        own = self.machines.get(institution_id, {})
        return [own[a] for a in assets if isinstance(a, str) and a in own]


# --- video_missing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Judged:
    """A record to judge: what it is, when, and which places and machines it needs."""

    subject_type: str
    id: int
    number: str
    institution_id: int
    region_code: str
    project_id: int | None
    started_at: dt.datetime
    ended_at: dt.datetime
    places: frozenset[PlaceKind]
    machine_ids: tuple[int, ...]

    @property
    def label(self) -> str:
        return "现场检测记录" if self.subject_type == "onsite_record" else "原始记录"


def _in_window(ctx: RuleContext, settings: Settings, region_code: str, start: dt.datetime,
               end: dt.datetime) -> bool:  # fmt: skip
    """Old enough for its recording to have arrived, young enough to be kept."""
    grace = dt.timedelta(minutes=float(ctx.thresholds(region_code)["grace_minutes"]))
    kept_since = months_before(ctx.now, months_for(settings, region_code))
    return end + grace <= ctx.now and start >= kept_since


def _judged(ctx: RuleContext, settings: Settings, known: _Institutions) -> Iterator[_Judged]:
    """The test and on-site records of the run that need filming and are due."""
    longest = max([DEFAULT_MONTHS, *settings.video_retention_months.values()])
    since = months_before(ctx.now, longest)
    places = Places.reading(ctx.db)
    t = TestRecord
    stmt = select(t.id, t.number, t.institution_id, t.region_code, t.project_id, t.started_at,
                  t.ended_at, t.kind, t.parameter_codes, t.equipment)  # fmt: skip
    stmt = stmt.where(t.started_at >= since, t.ended_at <= ctx.now)
    for r in ctx.db.execute(ctx.narrow(stmt, t.institution_id)):
        needed = places.of(r.kind, r.parameter_codes or [])
        if needed and _in_window(ctx, settings, r.region_code, r.started_at, r.ended_at):
            machines = known.machines_of(r.institution_id, r.equipment or [])
            yield _Judged("test_record", r.id, r.number, r.institution_id, r.region_code,
                          r.project_id, r.started_at, r.ended_at, needed,
                          tuple(m.id for m in machines))  # fmt: skip
    o = OnSiteRecord
    onsite = select(o.id, o.number, o.institution_id, o.region_code, o.project_id, o.started_at,
                    o.ended_at).where(o.started_at >= since, o.ended_at <= ctx.now)  # fmt: skip
    for s in ctx.db.execute(ctx.narrow(onsite, o.institution_id)):
        if _in_window(ctx, settings, s.region_code, s.started_at, s.ended_at):
            yield _Judged("onsite_record", s.id, s.number, s.institution_id, s.region_code,
                          s.project_id, s.started_at, s.ended_at, frozenset({PlaceKind.ONSITE}),
                          ())  # fmt: skip


@rule(
    "video_missing",
    title="需要视频监控的检测没有录像",
    clause=CLAUSE,
    severity=Severity.WARNING,
    subject_type="test_record",
    defaults={"grace_minutes": 60, "tolerance_seconds": 10},
    labels={
        "grace_minutes": "录像上传等待时间（分钟）",
        "tolerance_seconds": "允许的录像间隙（秒）",
        "uncovered": "没有录像的时段",
        "uncovered_seconds": "没有录像的时长（秒）",
        "cameras": "核对的摄像机",
        "places": "需要视频监控的场所",
    },
    # No write re-runs it: a record is judged only once its recording has had time to arrive,
    # and a narrowed run checks six months of the institution's records; the daily sweep
    # (alerts.sweep) judges them all.
    triggers=(),
    description="003 二（二）所列检测（力学性能、混凝土抗渗、室内环境污染物、保温绝热材料、"
    "保温砂浆导热系数、建筑外窗、玻璃幕墙）和现场检测，在其开始至结束时间内没有录像覆盖："
    "核对检测所用设备上的摄像机，设备无摄像机时核对本机构该类场所的摄像机（现场检测："
    "该工程的和本机构的现场摄像机）。检测结束超过等待时间才判断；超过录像保存期限"
    "（按地区设置，默认 6 个月）的不再判断。每日全量核查时判断。",
)
def video_missing(ctx: RuleContext) -> Iterator[Finding]:
    settings = get_settings()
    known = _Institutions.read(ctx)
    for r in _judged(ctx, settings, known):
        cameras = considered(
            known.cameras.get(r.institution_id, []), r.machine_ids, r.places, r.project_id
        )
        tolerance = float(ctx.thresholds(r.region_code)["tolerance_seconds"])
        missing = segments.covering(
            ctx.db, [c.id for c in cameras], r.started_at, r.ended_at, tolerance_s=tolerance
        )
        if not missing:
            continue
        yield Finding(
            key=f"{r.subject_type}:{r.id}",
            subject_type=r.subject_type,
            subject_id=str(r.id),
            subject_repr=f"{r.label} {r.number}",
            subject_number=r.number,
            institution_id=r.institution_id,
            region_code=r.region_code,
            project_id=r.project_id,
            facts={
                "uncovered": [_span(a, b) for a, b in missing][:20],
                "uncovered_seconds": round(sum((b - a).total_seconds() for a, b in missing)),
                "cameras": [f"{c.code} {c.name}" for c in cameras][:20] or ["无"],
                "places": sorted(p.label for p in r.places),
            },
        )


# --- coverage_incomplete ---------------------------------------------------------------------


@dataclass
class _Needs:
    """What an institution's recent tests need: places, and the machines of mechanical tests."""

    region_code: str
    places: set[PlaceKind]
    machines: dict[int, Equipment]


def _needs(ctx: RuleContext, known: _Institutions) -> dict[int, _Needs]:
    """What each institution's recent tests need. The records are read as their distinct
    kinds, parameters, machines and regions, each with its latest start (a record counts when
    it is recent, so a kind of test counts when its latest is): a lab's month is thousands of
    records, each batch of its records runs this rule, and they are a few dozen kinds."""
    places = Places.reading(ctx.db)
    needs: dict[int, _Needs] = {}
    # as far back as the longest window of any region (30 days unless a region set more)
    since = ctx.now - dt.timedelta(days=min(ctx.widest("days"), LONGEST_DAYS))
    t = TestRecord
    # the JSON columns as their text: PostgreSQL's json has no equality to group by
    codes, assets = cast(t.parameter_codes, Text), cast(t.equipment, Text)
    kinds = (t.institution_id, t.region_code, t.kind, codes, assets)
    stmt = select(*kinds, func.max(t.started_at)).where(t.started_at >= since).group_by(*kinds)
    rows = ctx.db.execute(ctx.narrow(stmt, t.institution_id)).all()
    for institution_id, region_code, kind, codes_json, assets_json, latest in _latest_first(rows):
        if not _recent(ctx, region_code, latest):
            continue
        needed = places.of(kind, _list(codes_json))
        if not needed:
            continue
        entry = needs.setdefault(institution_id, _Needs(region_code, set(), {}))
        entry.places |= needed
        if PlaceKind.MECHANICAL in needed:
            for machine in known.machines_of(institution_id, _list(assets_json)):
                entry.machines[machine.id] = machine
    o = OnSiteRecord
    onsite = (
        select(o.institution_id, o.region_code, func.max(o.started_at))
        .where(o.started_at >= since)
        .group_by(o.institution_id, o.region_code)
    )
    for institution_id, region_code, latest in _latest_first(
        ctx.db.execute(ctx.narrow(onsite, o.institution_id)).all()
    ):
        if _recent(ctx, region_code, latest):
            entry = needs.setdefault(institution_id, _Needs(region_code, set(), {}))
            entry.places.add(PlaceKind.ONSITE)
    return needs


def _latest_first(rows: Sequence[Any]) -> list[Any]:
    """Grouped rows, the latest start (their last column) first: an institution's needs take
    the region of its latest test (its records' regions may differ)."""
    return sorted(rows, key=lambda row: row[-1], reverse=True)


def _list(text: str | None) -> list[Any]:
    """A JSON column read as its text (a list, or null): the list."""
    value = orjson.loads(text) if text else None
    return value if isinstance(value, list) else []


def _recent(ctx: RuleContext, region_code: str, started_at: dt.datetime) -> bool:
    days = min(float(ctx.thresholds(region_code)["days"]), LONGEST_DAYS)
    return started_at >= ctx.now - dt.timedelta(days=days)


def _serves(camera: Camera, place: PlaceKind) -> bool:
    """Whether ``camera`` is one of ``place``'s (on site: any camera of a project's site too)."""
    return camera.place_kind == place.value or (
        place is PlaceKind.ONSITE and camera.project_id is not None
    )


def watched(machine: Equipment, cameras: Sequence[Camera]) -> bool:
    """A camera in service on the machine, or a mechanical-testing camera on no machine in
    the machine's lab."""
    return any(
        c.equipment_id == machine.id
        or (
            c.equipment_id is None
            and c.place_kind == PlaceKind.MECHANICAL.value
            and c.lab_id == machine.lab_id
        )
        for c in cameras
    )


@rule(
    "coverage_incomplete",
    title="检测场所未配置视频监控",
    clause="jz57 第二十二条（检测影像资料）；003 二（二）、（三）；001 4.2.1.1；002 第七条（九）",
    severity=Severity.WARNING,
    subject_type="institution",
    defaults={"days": 30},
    labels={
        "days": "统计最近天数（至多 366）",
        "places": "没有摄像机的场所",
        "machines": "没有摄像机的力学试验设备",
    },
    triggers=(Camera, TestRecord, OnSiteRecord),
    description="机构最近若干天做过 003 二（二）所列检测或现场检测，却没有登记（在用的）"
    "该类场所的摄像机；力学性能试验所用的每台设备都应有摄像机：装在设备上的，"
    "或所在检测场所的力学试验球机（001 4.2.1.1）。",
)
def coverage_incomplete(ctx: RuleContext) -> Iterator[Finding]:
    known = _Institutions.read(ctx)
    for institution_id, need in sorted(_needs(ctx, known).items()):
        cameras = [
            c
            for c in known.cameras.get(institution_id, [])
            if c.status != CameraStatus.RETIRED.value
        ]
        places = sorted(
            (p for p in need.places if not any(_serves(c, p) for c in cameras)),
            key=lambda p: p.value,
        )
        machines = sorted(
            (m for m in need.machines.values() if not watched(m, cameras)), key=lambda m: m.id
        )
        if not places and not machines:
            continue
        yield Finding(
            key=f"institution:{institution_id}",
            subject_type="institution",
            subject_id=str(institution_id),
            subject_repr="检测场所视频监控覆盖",
            institution_id=institution_id,
            region_code=need.region_code,
            facts={
                "places": [p.label for p in places],
                "machines": [f"{m.name}（{m.asset_number}）" for m in machines][:50],
                "days": int(ctx.thresholds(need.region_code)["days"]),
            },
        )
